//! The event loop core, free of Ruby: it knows signatures, deadlines and file
//! descriptors, never Ruby objects. Everything here is testable with `cargo test`.
mod close;
pub mod core;
pub mod descriptor;
pub mod jobs;
pub mod net;
pub mod open;
pub mod outbound;
pub mod poller;
mod registration;
pub mod sig_map;
pub mod signature;
mod sockopt;
pub mod stats;
mod stream;
pub mod table;
mod timeouts;
pub mod timer_fd;
pub mod timers;
pub mod tls;
pub mod tls_session;
mod tls_steps;
pub mod tls_verify;
pub mod wakeup;
pub mod watches;
