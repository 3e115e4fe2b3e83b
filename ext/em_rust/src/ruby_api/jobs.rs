//! `EventMachine::JobQueue` / `JobWaiter`: the defer pool. `EM.defer` pushes a job
//! (op, callback, errback) onto a Ruby Array and a token onto the native channel;
//! each worker (a Ruby thread) runs `JobWaiter#work`, which waits for a token
//! without the GVL, takes the next three values off the Array, calls the op and
//! posts (receiver, value) onto the results Array that one next tick drains. No
//! Ruby object crosses the channel; the Arrays belong to the Ruby layer.
use super::{gvl, raw};
use crate::reactor::jobs::{JobQueue, Take, Waiter};
use magnus::{function, method, prelude::*, value::LazyId, Error, RArray, RModule, Ruby, Value};
use std::cell::RefCell;

static CALL: LazyId = LazyId::new("call");

#[magnus::wrap(class = "EventMachine::JobQueue", free_immediately, size)]
struct RbJobQueue(RefCell<JobQueue>);

#[magnus::wrap(class = "EventMachine::JobWaiter", free_immediately, size)]
struct RbJobWaiter(Waiter);

impl RbJobQueue {
    fn new() -> Self {
        RbJobQueue(RefCell::new(JobQueue::default()))
    }

    /// One more job is on the Array; false once the queue is closed.
    fn push(&self) -> bool {
        self.0.borrow().push()
    }

    fn size(&self) -> usize {
        self.0.borrow().len()
    }

    fn close(&self) {
        self.0.borrow_mut().close();
    }

    fn waiter(&self) -> RbJobWaiter {
        RbJobWaiter(self.0.borrow().waiter())
    }
}

impl RbJobWaiter {
    /// Waits for the next job's token (without the GVL only when none is queued);
    /// false once the queue is closed. Thread#kill/#raise interrupt the wait.
    fn take(&self) -> Result<bool, Error> {
        loop {
            let taken = match self.0.try_take() {
                Some(taken) => Some(taken),
                None => {
                    self.0.clear_kicks();
                    gvl::without_gvl(|| self.0.take_blocking(), || self.0.kick(), gvl::Unblock::ThreadsOnly)
                }
            };
            match taken {
                Some(Take::Job) => return Ok(true),
                Some(Take::Closed) => return Ok(false),
                Some(Take::Kicked) | None => gvl::check_interrupts()?,
            }
        }
    }

    /// A worker's whole life: runs jobs until the queue closes. An op's exception
    /// goes with its errback onto `results`; with no errback it ends the worker
    /// (raised in its thread, as EM does); so do Thread#kill and non-exception
    /// jumps. The three shifts and the two pushes run with the GVL held and no Ruby
    /// code between them, so a job is never split between workers and a result's
    /// pair never interleaved with another's. A push onto an empty `results` queues
    /// `drain` as a next tick, natively (no interrupt can land between the pushes
    /// and it): the drain empties the Array, so a non-empty one always has a drain
    /// on its way.
    fn work(
        ruby: &Ruby,
        rb_self: &Self,
        jobs: RArray,
        results: RArray,
        em: RModule,
        drain: Value,
    ) -> Result<(), Error> {
        while rb_self.take()? {
            let op = raw::ary_shift(jobs);
            let callback = raw::ary_shift(jobs);
            let errback = raw::ary_shift(jobs);
            if op.is_nil() {
                continue; // the pool was shut down and its jobs cleared
            }
            let (receiver, value) = match op.funcall::<_, _, Value>(*CALL, ()) {
                Ok(value) => (callback, value),
                Err(e) => match e.value() {
                    Some(exception) if !errback.is_nil() => (errback, exception),
                    _ => return Err(e),
                },
            };
            let was_empty = results.is_empty();
            raw::ary_push(results, receiver);
            raw::ary_push(results, value);
            if was_empty {
                super::event_machine::queue_tick(ruby, em, drain)?;
            }
        }
        Ok(())
    }
}

pub fn init(ruby: &Ruby, em: RModule) -> Result<(), Error> {
    let queue = em.define_class("JobQueue", ruby.class_object())?;
    queue.undef_default_alloc_func();
    queue.define_singleton_method("new", function!(RbJobQueue::new, 0))?;
    queue.define_method("push", method!(RbJobQueue::push, 0))?;
    queue.define_method("size", method!(RbJobQueue::size, 0))?;
    queue.define_method("close", method!(RbJobQueue::close, 0))?;
    queue.define_method("waiter", method!(RbJobQueue::waiter, 0))?;
    let waiter = em.define_class("JobWaiter", ruby.class_object())?;
    waiter.undef_default_alloc_func();
    waiter.define_method("work", method!(RbJobWaiter::work, 4))?;
    Ok(())
}
