//! `EventMachine::Machine`: one reactor run. The Ruby layer creates it in
//! `initialize_event_machine`, hands it the next-tick Array and the timer Hash it
//! owns, and drops it in `release_machine`. Each loop turn: wait (without the GVL
//! only when nothing is ready), fire due timers, run the ticks queued so far.
use super::{errors, gvl};
use crate::reactor::poller::Poller;
use crate::reactor::timers::{deadline_after, Timers};
use crate::reactor::wakeup::Wakeup;
use magnus::{
    function, gc::Marker, method, prelude::*, typed_data::DataTypeFunctions, value::LazyId,
    value::Opaque, Error, RArray, RHash, RModule, Ruby, TypedData, Value,
};
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

static CALL: LazyId = LazyId::new("call");
static HANDLE_ERROR: LazyId = LazyId::new("handle_callback_error");

/// Signatures grow for the life of the process and are never reused. 0 and 1 are
/// the poll set's reserved tokens.
static NEXT_SIG: AtomicU64 = AtomicU64::new(2);

pub fn next_signature() -> u64 {
    NEXT_SIG.fetch_add(1, Ordering::Relaxed)
}

#[derive(TypedData)]
#[magnus(class = "EventMachine::Machine", free_immediately, mark, size)]
pub struct Machine {
    /// Used only by the reactor thread; `None` after `release`.
    poller: RefCell<Option<Poller>>,
    timers: RefCell<Timers>,
    wakeup: Arc<Wakeup>,
    /// Owned by the Ruby layer (`@next_tick_queue`, `@timers`, `EventMachine`), which
    /// never replaces them while a Machine exists; marked here all the same.
    ticks: Opaque<RArray>,
    timer_procs: Opaque<RHash>,
    em: Opaque<RModule>,
}

impl DataTypeFunctions for Machine {
    fn mark(&self, marker: &Marker) {
        marker.mark(self.ticks);
        marker.mark(self.timer_procs);
        marker.mark(self.em);
    }
}

impl Machine {
    fn new(ruby: &Ruby, ticks: RArray, timer_procs: RHash, em: RModule) -> Result<Self, Error> {
        let (poller, wakeup) = Poller::new().map_err(|e| errors::io_error(ruby, e))?;
        Ok(Machine {
            poller: RefCell::new(Some(poller)),
            timers: RefCell::new(Timers::default()),
            wakeup,
            ticks: ticks.into(),
            timer_procs: timer_procs.into(),
            em: em.into(),
        })
    }

    fn run_machine(ruby: &Ruby, rb_self: &Self) -> Result<(), Error> {
        while !rb_self.wakeup.stop_requested() {
            rb_self.turn(ruby)?;
        }
        Ok(())
    }

    /// One turn; false once the machine was asked to stop.
    fn run_machine_once(ruby: &Ruby, rb_self: &Self) -> Result<bool, Error> {
        rb_self.turn(ruby)?;
        Ok(!rb_self.wakeup.stop_requested())
    }

    fn turn(&self, ruby: &Ruby) -> Result<(), Error> {
        let ticks = ruby.get_inner(self.ticks);
        self.wait(ruby, !ticks.is_empty())?;
        self.fire_timers(ruby)?;
        self.run_ticks(ruby, ticks)
    }

    /// Polls without blocking; blocks (GVL released, timerfd armed for the next
    /// timer) only if there is nothing to do now.
    fn wait(&self, ruby: &Ruby, busy: bool) -> Result<(), Error> {
        let next_timer = self.timers.borrow().next_deadline();
        let busy = busy
            || next_timer.is_some_and(|deadline| deadline <= Instant::now())
            || self.wakeup.stop_requested();
        let mut guard = self.poller.borrow_mut();
        let poller = guard.as_mut().ok_or_else(|| errors::runtime_error(ruby, "eventmachine not initialized: evma_run_machine"))?;
        let mut ready = 0;
        if poller.has_sources() {
            ready = poller.poll_now().map_err(|e| errors::io_error(ruby, e))?;
        }
        if busy || ready > 0 {
            return Ok(());
        }
        let wakeup = &*self.wakeup;
        wakeup.set_sleeping(true);
        let waited = gvl::without_gvl(|| poller.wait_until(next_timer), || wakeup.wake());
        wakeup.set_sleeping(false);
        drop(guard);
        if let Some(result) = waited {
            result.map_err(|e| errors::io_error(ruby, e))?;
        }
        gvl::check_interrupts()
    }

    fn fire_timers(&self, ruby: &Ruby) -> Result<(), Error> {
        let mut due = Vec::new();
        self.timers.borrow_mut().take_due(Instant::now(), &mut due);
        if due.is_empty() {
            return Ok(());
        }
        let procs = ruby.get_inner(self.timer_procs);
        for sig in due {
            let callback: Value = procs.delete(sig)?;
            if callback.to_bool() {
                self.call(ruby, callback)?;
            }
        }
        Ok(())
    }

    /// Runs the ticks queued before this point; ticks they queue run next turn.
    fn run_ticks(&self, ruby: &Ruby, ticks: RArray) -> Result<(), Error> {
        for _ in 0..ticks.len() {
            let callback: Value = ticks.shift()?;
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
        let err = match callback.funcall::<_, _, Value>(*CALL, ()) {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        if let Some(exception) = err.value() {
            let em = ruby.get_inner(self.em);
            if em.funcall::<_, _, bool>(*HANDLE_ERROR, (exception,))? {
                return Ok(());
            }
        }
        Err(err)
    }

    fn add_timer(ruby: &Ruby, rb_self: &Self, seconds: f64) -> Result<u64, Error> {
        let sig = next_signature();
        let deadline = deadline_after(Instant::now(), seconds);
        rb_self
            .timers
            .borrow_mut()
            .add(sig, deadline)
            .map_err(|_| errors::runtime_error(ruby, "ran out of timers; use #set_max_timers to increase limit"))?;
        // A timer added from another thread must re-arm a sleeping reactor.
        rb_self.wakeup.nudge();
        Ok(sig)
    }

    fn cancel_timer(&self, sig: u64) -> bool {
        self.timers.borrow_mut().cancel(sig)
    }

    fn timer_count(&self) -> usize {
        self.timers.borrow().len()
    }

    fn set_max_timers(&self, max: Option<usize>) {
        self.timers.borrow_mut().set_max(max);
    }

    fn signal_loopbreak(&self) {
        self.wakeup.nudge();
    }

    fn stop(&self) {
        self.wakeup.request_stop();
    }

    fn stopping(&self) -> bool {
        self.wakeup.stop_requested()
    }

    /// Closes the poll set and forgets every timer. Other threads may still hold the
    /// Machine: their wakes then reach nobody, harmlessly.
    fn release(&self) {
        self.poller.borrow_mut().take();
        self.timers.borrow_mut().clear();
    }
}

pub fn init(ruby: &Ruby, em: RModule) -> Result<(), Error> {
    let class = em.define_class("Machine", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.define_singleton_method("new", function!(Machine::new, 3))?;
    class.define_method("run_machine", method!(Machine::run_machine, 0))?;
    class.define_method("run_machine_once", method!(Machine::run_machine_once, 0))?;
    class.define_method("add_timer", method!(Machine::add_timer, 1))?;
    class.define_method("cancel_timer", method!(Machine::cancel_timer, 1))?;
    class.define_method("timer_count", method!(Machine::timer_count, 0))?;
    class.define_method("max_timers=", method!(Machine::set_max_timers, 1))?;
    class.define_method("signal_loopbreak", method!(Machine::signal_loopbreak, 0))?;
    class.define_method("stop", method!(Machine::stop, 0))?;
    class.define_method("stopping?", method!(Machine::stopping, 0))?;
    class.define_method("release", method!(Machine::release, 0))?;
    Ok(())
}
