//! `Machine#stats`: the reactor's part of `EM.stats` (lib/em_rust/reactor.rb adds
//! the defer pool's), as a Hash with Symbol keys.
use super::machine::Machine;
use magnus::{method, prelude::*, Error, RClass, RHash, Ruby};
use std::time::Instant;

impl Machine {
    fn stats(ruby: &Ruby, rb_self: &Self) -> Result<RHash, Error> {
        let reactor = &rb_self.reactor;
        let loop_stats = reactor.stats.snapshot(Instant::now());
        let census = reactor.table.borrow().census();
        let timers = reactor.timers.borrow().len();
        let hash = ruby.hash_new();
        hash.aset(ruby.to_symbol("turns"), loop_stats.turns)?;
        hash.aset(ruby.to_symbol("busy_seconds"), loop_stats.busy)?;
        hash.aset(ruby.to_symbol("wait_seconds"), loop_stats.waited)?;
        hash.aset(ruby.to_symbol("loop_lag_seconds"), loop_stats.lag)?;
        hash.aset(ruby.to_symbol("current_turn_seconds"), loop_stats.current_turn)?;
        hash.aset(ruby.to_symbol("timers"), timers)?;
        let descriptors = ruby.hash_new();
        descriptors.aset(ruby.to_symbol("stream"), census.streams)?;
        descriptors.aset(ruby.to_symbol("acceptor"), census.acceptors)?;
        descriptors.aset(ruby.to_symbol("datagram"), census.datagrams)?;
        descriptors.aset(ruby.to_symbol("watch"), census.watches)?;
        descriptors.aset(ruby.to_symbol("other"), census.other)?;
        hash.aset(ruby.to_symbol("descriptors"), descriptors)?;
        hash.aset(ruby.to_symbol("outbound_bytes"), census.outbound_bytes)?;
        Ok(hash)
    }
}

pub fn init(class: RClass) -> Result<(), Error> {
    class.define_method("stats", method!(Machine::stats, 0))?;
    Ok(())
}
