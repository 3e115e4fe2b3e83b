//! magnus glue only: argument conversion, dispatch into Ruby, exception classes and
//! the GVL helper. The event loop itself lives in `crate::reactor`.
mod connections;
mod dispatch;
mod errors;
mod event_machine;
mod gvl;
mod held_strings;
mod jobs;
mod machine;
mod raw;
mod read_buffer;
mod rethinkdb;
mod stats;
mod tls;

use magnus::{Error, Ruby};

/// Initialises every class, in order. lib/em_rust/errors.rb has run already.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let em = ruby.define_module("EventMachine")?;
    errors::init(ruby)?;
    let machine = machine::init(ruby, em)?;
    connections::init(ruby, machine)?;
    tls::init(ruby, machine)?;
    stats::init(machine)?;
    event_machine::init(ruby, em)?;
    jobs::init(ruby, em)?;
    rethinkdb::init(ruby)?;
    Ok(())
}
