//! em_rust: EventMachine's reactor in Rust. `reactor/` is the event loop (no Ruby);
//! `ruby_api/` is the magnus glue that exposes it to the Ruby layer in lib/.
//!
//! # Safety
//!
//! Every `unsafe` block says why it is sound in a `// SAFETY:` comment. The rules
//! those comments lean on (ARCHITECTURE.md, "Rules that keep it correct"):
//!
//! - **No Ruby value outlives its call**, except these, which the GC sees: the
//!   Machine's four `Opaque`s (the next-tick Array, the timer-callback Hash, the
//!   `@conns` Hash, the `EventMachine` module), all made by the caller and marked by
//!   `Machine::mark` (ruby_api/machine.rs); EM's exception classes in magnus `Lazy`
//!   statics (ruby_api/errors.rs), which magnus registers as mark objects; and `LazyId`
//!   statics, static Symbols that are never collected. Nothing under `reactor/` or
//!   `rethinkdb/` holds a Ruby value; channels and events carry signatures and ids.
//!   Any other `Value` lives on the stack of the call that made it, where Ruby's
//!   conservative stack scan finds it (the RethinkDB JSON builder relies on this).
//! - **No Ruby allocation while `mark`'s fields are borrowed.** `Machine::mark` reads
//!   only the `Opaque`s, which are `Copy` and never borrowed, and no `RefCell`; so a
//!   GC that runs while the table is borrowed (`deliver` allocates the received
//!   String that way) is harmless: a marking GC reads no borrowed state. Keep `mark` so.
//!   A String's bytes borrowed without a copy (`raw::str_bytes`) are used only while
//!   no Ruby code runs and nothing is allocated.
//! - **The GVL.** Ruby is called only from a thread that holds the GVL. It is
//!   released in one file, ruby_api/gvl.rs, and only around a wait that its
//!   unblocking function can end (the reactor's epoll wait, a defer worker's take, the
//!   synchronous RethinkDB socket's poll). The code run without it is `Send` and
//!   touches no Ruby value (magnus values are not `Send`); what it needs from a Ruby
//!   String is copied first. A panic there is caught and resumed with the GVL held,
//!   and no Ruby exception (longjmp) unwinds through Rust frames: C API calls that
//!   could raise go through `rb_protect` (magnus); the direct ones (ruby_api/raw.rs,
//!   the RethinkDB JSON builder) cannot raise, short of NoMemoryError.
pub mod reactor;
pub mod rethinkdb;
mod ruby_api;

#[magnus::init]
fn init(ruby: &magnus::Ruby) -> Result<(), magnus::Error> {
    ruby_api::init(ruby)
}
