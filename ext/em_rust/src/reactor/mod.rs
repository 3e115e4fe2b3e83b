//! The event loop core, free of Ruby: it knows signatures, deadlines and file
//! descriptors, never Ruby objects. Everything here is testable with `cargo test`.
pub mod descriptor;
pub mod io;
pub mod jobs;
pub mod net;
pub mod outbound;
pub mod poller;
pub mod sig_map;
pub mod signature;
pub mod timer_fd;
pub mod timers;
pub mod tls;
pub mod wakeup;
pub mod watches;
