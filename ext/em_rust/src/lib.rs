//! em_rust: EventMachine's reactor in Rust. `reactor/` is the event loop (no Ruby);
//! `ruby_api/` is the magnus glue that exposes it to the Ruby layer in lib/.
pub mod reactor;
pub mod rethinkdb;
mod ruby_api;

#[magnus::init]
fn init(ruby: &magnus::Ruby) -> Result<(), magnus::Error> {
    ruby_api::init(ruby)
}
