//! magnus glue only: argument conversion, dispatch into Ruby, exception classes and
//! the GVL helper. The event loop itself lives in `crate::reactor`.
mod connections;
mod dispatch;
mod errors;
mod gvl;
mod jobs;
mod machine;
mod raw;
mod tls;
mod rethinkdb;

use magnus::{Error, Ruby};

pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let em = ruby.define_module("EventMachine")?;
    machine::init(ruby, em)?;
    jobs::init(ruby, em)?;
    rethinkdb::init(ruby)?;
    Ok(())
}
