//! The defer pool's job queue: one token per queued job travels over a crossbeam
//! channel to the worker threads (the jobs themselves wait in a Ruby Array, in the
//! same order). A worker blocked in `take` can be kicked out of the wait, so
//! Thread#kill and Ctrl-C work.
use crossbeam_channel::{select, unbounded, Receiver, Sender, TryRecvError};

pub struct JobQueue {
    tx: Option<Sender<()>>,
    rx: Receiver<()>,
}

pub struct Waiter {
    jobs: Receiver<()>,
    kick_tx: Sender<()>,
    kick_rx: Receiver<()>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    /// One job is queued for this worker.
    Job,
    /// The wait was interrupted; the caller checks why and usually waits again.
    Kicked,
    /// The queue was closed: no more jobs will come.
    Closed,
}

impl Default for JobQueue {
    fn default() -> Self {
        let (tx, rx) = unbounded();
        JobQueue { tx: Some(tx), rx }
    }
}

impl JobQueue {
    /// False once the queue is closed.
    pub fn push(&self) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(()).is_ok())
    }

    pub fn close(&mut self) {
        self.tx = None;
    }

    pub fn waiter(&self) -> Waiter {
        let (kick_tx, kick_rx) = unbounded();
        Waiter { jobs: self.rx.clone(), kick_tx, kick_rx }
    }

    pub fn len(&self) -> usize {
        self.rx.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl Waiter {
    pub fn try_take(&self) -> Option<Take> {
        match self.jobs.try_recv() {
            Ok(()) => Some(Take::Job),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Take::Closed),
        }
    }

    pub fn take_blocking(&self) -> Take {
        select! {
            recv(self.jobs) -> job => job.map_or(Take::Closed, |()| Take::Job),
            recv(self.kick_rx) -> _ => Take::Kicked,
        }
    }

    pub fn kick(&self) {
        let _ = self.kick_tx.send(());
    }

    /// Drops stale kicks before a new wait.
    pub fn clear_kicks(&self) {
        while self.kick_rx.try_recv().is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn jobs_reach_one_waiter_each() {
        let q = JobQueue::default();
        let (a, b) = (q.waiter(), q.waiter());
        q.push();
        q.push();
        assert_eq!([a.try_take(), b.try_take()], [Some(Take::Job), Some(Take::Job)]);
        assert_eq!(a.try_take(), None);
    }

    #[test]
    fn kick_interrupts_a_blocked_waiter_and_close_ends_it() {
        let mut q = JobQueue::default();
        let w = q.waiter();
        let kicker = thread::spawn({
            let kick = w.kick_tx.clone();
            move || {
                thread::sleep(Duration::from_millis(20));
                kick.send(()).unwrap();
            }
        });
        assert_eq!(w.take_blocking(), Take::Kicked);
        kicker.join().unwrap();
        q.close();
        assert!(!q.push());
        assert_eq!(w.take_blocking(), Take::Closed);
    }
}
