//! `EventMachine::JobQueue` / `JobWaiter`: the defer pool's channel of job ids.
//! Worker threads (Ruby threads) wait in `JobWaiter#take` without the GVL.
use super::gvl;
use crate::reactor::jobs::{JobQueue, Take, Waiter};
use magnus::{function, method, prelude::*, Error, RModule, Ruby};
use std::cell::RefCell;

#[magnus::wrap(class = "EventMachine::JobQueue", free_immediately, size)]
struct RbJobQueue(RefCell<JobQueue>);

#[magnus::wrap(class = "EventMachine::JobWaiter", free_immediately, size)]
struct RbJobWaiter(Waiter);

impl RbJobQueue {
    fn new() -> Self {
        RbJobQueue(RefCell::new(JobQueue::default()))
    }

    fn push(&self, id: u64) -> bool {
        self.0.borrow().push(id)
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
    /// The next job id, or nil once the queue is closed. Blocks without the GVL;
    /// Thread#kill/#raise interrupt the wait.
    fn take(&self) -> Result<Option<u64>, Error> {
        loop {
            let taken = match self.0.try_take() {
                Some(taken) => Some(taken),
                None => {
                    self.0.clear_kicks();
                    gvl::without_gvl(|| self.0.take_blocking(), || self.0.kick(), gvl::Unblock::ThreadsOnly)
                }
            };
            match taken {
                Some(Take::Job(id)) => return Ok(Some(id)),
                Some(Take::Closed) => return Ok(None),
                Some(Take::Kicked) | None => gvl::check_interrupts()?,
            }
        }
    }
}

pub fn init(ruby: &Ruby, em: RModule) -> Result<(), Error> {
    let queue = em.define_class("JobQueue", ruby.class_object())?;
    queue.undef_default_alloc_func();
    queue.define_singleton_method("new", function!(RbJobQueue::new, 0))?;
    queue.define_method("push", method!(RbJobQueue::push, 1))?;
    queue.define_method("size", method!(RbJobQueue::size, 0))?;
    queue.define_method("close", method!(RbJobQueue::close, 0))?;
    queue.define_method("waiter", method!(RbJobQueue::waiter, 0))?;
    let waiter = em.define_class("JobWaiter", ruby.class_object())?;
    waiter.undef_default_alloc_func();
    waiter.define_method("take", method!(RbJobWaiter::take, 0))?;
    Ok(())
}
