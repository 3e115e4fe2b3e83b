//! `EventMachine::Machine`: one reactor run. The Ruby layer creates it in
//! `initialize_event_machine`, hands it the Ruby containers it owns (next-tick
//! Array, timer and connection Hashes), and releases it in `release_machine`. Each
//! loop turn: wait (without the GVL only when nothing is ready), fire due timers,
//! deliver I/O events, run the ticks queued so far.
use super::held_strings::HeldStrings;
use super::{errors, gvl, raw};
use crate::reactor::core::Reactor;
use crate::reactor::signature::next_signature;
use crate::reactor::timers::deadline_after;
use magnus::{
    function, gc::Marker, method, prelude::*, typed_data::DataTypeFunctions, typed_data::Obj, value::LazyId,
    value::Opaque, Error, RArray, RClass, RHash, RModule, RString, Ruby, TypedData, Value,
};
use std::cell::{Cell, RefCell};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static CALL: LazyId = LazyId::new("call");
static FIBER_CALL: LazyId = LazyId::new("fiber_call");
static HANDLE_ERROR: LazyId = LazyId::new("handle_callback_error");
static MACHINE_IVAR: LazyId = LazyId::new("@machine");
/// The most arguments a reactor callback takes (`event_accepted`, `event_unbound`: two).
const MAX_CALLBACK_ARGS: usize = 4;

#[derive(TypedData)]
#[magnus(class = "EventMachine::Machine", free_immediately, mark, size)]
pub struct Machine {
    /// The poll set, descriptor table, timers and wakeup, and the turn's decisions.
    /// Its table is never borrowed across a call into Ruby or the wait.
    pub(super) reactor: Reactor,
    /// Timer signature => the callable to run. A Ruby Hash, not a Rust map: this
    /// TypedData has no write barrier, so Ruby re-marks it on every minor GC, while
    /// a (write-barrier-protected) Hash of 100,000 timers is skipped once old.
    timer_callbacks: Opaque<RHash>,
    /// Wall-clock time at the start of the current turn (EM.current_time).
    loop_time: Cell<SystemTime>,
    /// While ssl_verify_peer runs: the connection and the cipher negotiated so far
    /// (its session is out of the table then; the cipher getters read this).
    pub(super) verifying: RefCell<Option<(u64, crate::reactor::tls_verify::CipherInfo)>>,
    /// Owned by the Ruby layer (`@next_tick_queue`, `EventMachine`), which never
    /// replaces them while a Machine exists; marked here all the same.
    ticks: Opaque<RArray>,
    /// `@conns`: signature => EM::Connection.
    pub(super) conns: Opaque<RHash>,
    pub(super) em: Opaque<RModule>,
    /// `EM.callbacks_in_fibers`: every callback goes through `EM.fiber_call`.
    pub(super) in_fibers: Cell<bool>,
    /// The String the next stream read lands in (read_buffer.rs); Ruby has not seen it.
    pub(super) spare: Cell<Option<Opaque<RString>>>,
    /// The Strings the reactor writes without a copy (held_strings.rs).
    pub(super) held: HeldStrings,
}

impl DataTypeFunctions for Machine {
    fn mark(&self, marker: &Marker) {
        marker.mark(self.ticks);
        marker.mark(self.em);
        marker.mark(self.timer_callbacks);
        marker.mark(self.conns);
        if let Some(spare) = self.spare.get() {
            marker.mark(spare);
        }
        self.held.mark(marker);
    }
}

impl Machine {
    /// Every Ruby object a Machine holds comes from the caller: one created here would
    /// sit unmarked in the heap-allocated struct until the wrapper object exists.
    fn new(ruby: &Ruby, ticks: RArray, timer_callbacks: RHash, conns: RHash, em: RModule) -> Result<Self, Error> {
        Ok(Machine {
            reactor: Reactor::new().map_err(|e| errors::io_error(ruby, e))?,
            timer_callbacks: timer_callbacks.into(),
            loop_time: Cell::new(SystemTime::now()),
            verifying: RefCell::new(None),
            ticks: ticks.into(),
            conns: conns.into(),
            em: em.into(),
            in_fibers: Cell::new(false),
            spare: Cell::new(None),
            held: HeldStrings::default(),
        })
    }

    fn run_machine(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        while !rb_self.reactor.wakeup.stop_requested() {
            rb_self.turn(ruby)?;
        }
        Ok(())
    }

    /// One turn; false once the machine was asked to stop.
    fn run_machine_once(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        rb_self.turn(ruby)?;
        Ok(!rb_self.reactor.wakeup.stop_requested())
    }

    fn turn(&self, ruby: &Ruby) -> Result<(), Error> {
        let ticks = ruby.get_inner(self.ticks);
        let reactor = &self.reactor;
        if let Some(wait) = reactor.prepare(!ticks.is_empty()).map_err(|e| errors::io_error(ruby, e))? {
            let wakeup = &*reactor.wakeup;
            reactor
                .block(wait, |w| gvl::without_gvl(move || w.run(), || wakeup.wake(), gvl::Unblock::SignalSafe))
                .map_err(|e| errors::io_error(ruby, e))?;
        }
        reactor.finish(Instant::now());
        self.held.let_go(ruby);
        gvl::check_interrupts()?;
        self.loop_time.set(SystemTime::now());
        self.dispatch_turn(ruby)?;
        self.run_ticks(ruby, ticks)
    }

    /// Runs a due timer's callback (gone, or `false` as old EM code marks it, if the
    /// timer was cancelled meanwhile).
    pub(super) fn fire_timer(&self, ruby: &Ruby, sig: u64) -> Result<(), Error> {
        let callbacks = ruby.get_inner(self.timer_callbacks);
        let callback = raw::hash_take(callbacks, ruby.integer_from_u64(sig).as_value());
        if !callback.to_bool() {
            return Ok(());
        }
        self.call(ruby, callback)
    }

    /// Runs the ticks queued before this point; ticks they queue run next turn.
    fn run_ticks(&self, ruby: &Ruby, ticks: RArray) -> Result<(), Error> {
        for _ in 0..ticks.len() {
            let callback = raw::ary_shift(ticks);
            if callback.is_nil() {
                break;
            }
            self.call(ruby, callback)?;
        }
        Ok(())
    }

    /// Calls a Ruby callback. Its exception goes to `EM.error_handler` if one is set
    /// (the loop goes on); otherwise it ends the loop and `EM.run` re-raises it.
    fn call(&self, ruby: &Ruby, callback: Value) -> Result<(), Error> {
        let result = self.invoke(ruby, None, callback, &CALL, &[]);
        self.handled(ruby, result)
    }

    /// The route by which the reactor calls Ruby back: `receiver.method(*args)`,
    /// or with callbacks in fibers `EM.fiber_call(key, receiver, :method, *args)`,
    /// which runs it in a fiber, in order with the other calls of the same key (a
    /// connection's signature; nil for timers and ticks). Two calls whose answer is
    /// needed at once do not take it: ssl_verify_peer (ruby_api/tls.rs, inside the
    /// handshake step) and the error handler (`handled`).
    pub(super) fn invoke(
        &self,
        ruby: &Ruby,
        key: Option<u64>,
        receiver: Value,
        method: &LazyId,
        args: &[Value],
    ) -> Result<(), Error> {
        if !self.in_fibers.get() {
            return receiver.funcall::<_, _, Value>(**method, args).map(drop);
        }
        let key = key.map_or(ruby.qnil().as_value(), |k| ruby.integer_from_u64(k).as_value());
        let method = magnus::Symbol::from(LazyId::get_inner_with(method, ruby)).as_value();
        // On the stack (the reactor's callbacks take at most two arguments).
        let mut all = [ruby.qnil().as_value(); 3 + MAX_CALLBACK_ARGS];
        all[..3].copy_from_slice(&[key, receiver, method]);
        all[3..3 + args.len()].copy_from_slice(args);
        ruby.get_inner(self.em).funcall::<_, _, Value>(*FIBER_CALL, &all[..3 + args.len()]).map(drop)
    }

    fn set_callbacks_in_fibers(&self, on: bool) {
        self.in_fibers.set(on);
    }

    /// Routes a callback's failure to the error handler (Ok if it took it).
    pub(super) fn handled(&self, ruby: &Ruby, result: Result<(), Error>) -> Result<(), Error> {
        let Err(err) = result else { return Ok(()) };
        if let Some(exception) = err.value() {
            let em = ruby.get_inner(self.em);
            if em.funcall::<_, _, bool>(*HANDLE_ERROR, (exception,))? {
                return Ok(());
            }
        }
        Err(err)
    }

    pub(super) fn add_callback_timer(&self, ruby: &Ruby, seconds: f64, code: Value) -> Result<Value, Error> {
        let sig = next_signature();
        self.reactor
            .timers
            .borrow_mut()
            .add(sig, deadline_after(Instant::now(), seconds))
            .map_err(|_| errors::runtime_error(ruby, "ran out of timers; use #set_max_timers to increase limit"))?;
        let key = ruby.integer_from_u64(sig).as_value();
        raw::hash_store(ruby.get_inner(self.timer_callbacks), key, code);
        // A timer added from another thread must re-arm a sleeping reactor.
        self.reactor.wakeup.nudge();
        Ok(key)
    }

    fn cancel_timer(ruby: &Ruby, rb_self: &Self, sig: u64) -> Result<bool, Error> {
        let _: Option<Value> = ruby.get_inner(rb_self.timer_callbacks).delete(sig)?;
        Ok(rb_self.reactor.timers.borrow_mut().cancel(sig))
    }

    fn loop_time(&self) -> f64 {
        self.loop_time.get().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
    }

    fn timer_count(&self) -> usize {
        self.reactor.timers.borrow().len()
    }

    fn set_heartbeat(&self, seconds: f64) {
        self.reactor.table.borrow_mut().heartbeat = std::time::Duration::from_secs_f64(seconds.max(0.001));
    }

    fn set_max_timers(&self, max: Option<usize>) {
        self.reactor.timers.borrow_mut().set_max(max);
    }

    fn signal_loopbreak(&self) {
        self.reactor.wakeup.nudge();
    }

    fn stop(&self) {
        self.reactor.wakeup.request_stop();
    }

    fn stopping(&self) -> bool {
        self.reactor.wakeup.stop_requested()
    }

    /// Closes every descriptor (each connection gets its unbind, as in EM), then the
    /// poll set (with its timerfd) and the eventfd, and forgets every timer. The
    /// first exception an unbind raised is re-raised after everything is released.
    /// Other threads may still hold the Machine: their wakes then reach nobody.
    fn release(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        rb_self.reactor.close_all();
        let unbinds = rb_self.dispatch_all(ruby);
        let _: Value = ruby.get_inner(rb_self.timer_callbacks).funcall("clear", ())?;
        rb_self.release_native();
        unbinds
    }

    fn release_native(&self) {
        self.reactor.release();
    }
}

/// The Machine of the running reactor (`EventMachine.@machine`), or EM's
/// "not initialized" RuntimeError naming the C function EM would have called.
pub(super) fn current_machine(ruby: &Ruby, em: RModule, function: &str) -> Result<Obj<Machine>, Error> {
    let machine = raw::ivar(em, LazyId::get_inner_with(&MACHINE_IVAR, ruby));
    if machine.is_nil() {
        return Err(errors::runtime_error(ruby, format!("eventmachine not initialized: {function}")));
    }
    Obj::<Machine>::try_convert(machine)
}

pub fn init(ruby: &Ruby, em: RModule) -> Result<RClass, Error> {
    let class = em.define_class("Machine", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_singleton_method("new", function!(Machine::new, 4))?;
    class.define_method("heartbeat=", method!(Machine::set_heartbeat, 1))?;
    class.define_method("run_machine", method!(Machine::run_machine, 0))?;
    class.define_method("run_machine_once", method!(Machine::run_machine_once, 0))?;
    class.define_method("cancel_timer", method!(Machine::cancel_timer, 1))?;
    class.define_method("timer_count", method!(Machine::timer_count, 0))?;
    class.define_method("loop_time", method!(Machine::loop_time, 0))?;
    class.define_method("max_timers=", method!(Machine::set_max_timers, 1))?;
    class.define_method("signal_loopbreak", method!(Machine::signal_loopbreak, 0))?;
    class.define_method("stop", method!(Machine::stop, 0))?;
    class.define_method("stopping?", method!(Machine::stopping, 0))?;
    class.define_method("release", method!(Machine::release, 0))?;
    class.define_method("callbacks_in_fibers=", method!(Machine::set_callbacks_in_fibers, 1))?;
    Ok(class)
}
