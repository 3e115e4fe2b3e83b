//! The event loop core, free of Ruby: it knows signatures, deadlines and file
//! descriptors, never Ruby objects. Everything here is testable with `cargo test`.
pub mod jobs;
pub mod poller;
pub mod sig_map;
pub mod timer_fd;
pub mod timers;
pub mod wakeup;
