//! The mio poll set with two reserved tokens: the cross-thread waker and the timerfd.
//! Only the reactor thread uses a `Poller`; other threads reach it through `Wakeup`.
use super::timer_fd::TimerFd;
use super::wakeup::Wakeup;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use std::io;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const WAKER: Token = Token(0);
pub const TIMER: Token = Token(1);

pub struct Poller {
    poll: Poll,
    events: Events,
    timer: TimerFd,
}

/// A readiness event for a descriptor, by signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    pub sig: u64,
    pub readable: bool,
    pub writable: bool,
    pub closed: bool,
    /// Straight from the poll and no end of stream: a short read empties the
    /// socket (edge-triggered, so more data makes a new event). False for
    /// readiness the table makes up itself (reads carried to the next turn, a
    /// starved acceptor's retry): those read until EAGAIN.
    pub fresh: bool,
}

impl Poller {
    /// A second handle on the poll set, for the descriptor table to register with.
    pub fn registry(&self) -> io::Result<Registry> {
        self.poll.registry().try_clone()
    }

    pub fn new() -> io::Result<(Poller, Arc<Wakeup>)> {
        let poll = Poll::new()?;
        let wakeup = Arc::new(Wakeup::new(Waker::new(poll.registry(), WAKER)?));
        let timer = TimerFd::new()?;
        poll.registry().register(&mut SourceFd(&timer.as_raw_fd()), TIMER, Interest::READABLE)?;
        Ok((Poller { poll, events: Events::with_capacity(1024), timer }, wakeup))
    }

    /// Polls without blocking; returns the number of events.
    pub fn poll_now(&mut self) -> io::Result<usize> {
        self.poll_for(Some(Duration::ZERO))
    }

    /// Drops the events of the last poll (no descriptor to poll this turn); 0.
    pub fn forget_events(&mut self) -> usize {
        self.events.clear();
        0
    }

    /// Blocks until a descriptor is ready, the waker fires, or `deadline` passes
    /// (to the nanosecond, through the timerfd). EINTR returns early with no events.
    pub fn wait_until(&mut self, deadline: Option<Instant>) -> io::Result<usize> {
        match deadline {
            Some(deadline) => self.timer.arm(deadline)?,
            None => self.timer.disarm()?,
        }
        self.poll_for(None)
    }

    fn poll_for(&mut self, timeout: Option<Duration>) -> io::Result<usize> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                self.events.clear();
                return Ok(0);
            }
            Err(e) => return Err(e),
        }
        let mut n = 0;
        for event in self.events.iter() {
            if event.token() == TIMER {
                self.timer.expired();
            }
            n += 1;
        }
        Ok(n)
    }

    /// The descriptor events of the last poll (reserved tokens left out).
    pub fn ready(&self) -> impl Iterator<Item = Ready> + '_ {
        self.events.iter().filter(|e| e.token() != WAKER && e.token() != TIMER).map(|e| Ready {
            sig: e.token().0 as u64,
            readable: e.is_readable() || e.is_read_closed() || e.is_error(),
            writable: e.is_writable(),
            closed: e.is_read_closed() || e.is_error(),
            fresh: !(e.is_read_closed() || e.is_error() || e.is_write_closed()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn timerfd_wakes_the_wait_at_the_deadline_with_sub_millisecond_precision() {
        let (mut poller, _wakeup) = Poller::new().unwrap();
        for _ in 0..20 {
            let start = Instant::now();
            let deadline = start + Duration::from_micros(2_300);
            poller.wait_until(Some(deadline)).unwrap();
            let woke = Instant::now();
            assert!(woke >= deadline, "woke early");
            assert!(woke - deadline < Duration::from_millis(5), "late by {:?}", woke - deadline);
        }
    }

    #[test]
    fn waker_interrupts_an_unbounded_wait_from_another_thread() {
        let (mut poller, wakeup) = Poller::new().unwrap();
        wakeup.set_sleeping(true);
        let w = wakeup.clone();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            w.nudge();
        });
        let start = Instant::now();
        poller.wait_until(None).unwrap();
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().unwrap();
    }

    #[test]
    fn nudge_does_nothing_while_the_reactor_is_awake() {
        let (mut poller, wakeup) = Poller::new().unwrap();
        wakeup.nudge();
        assert_eq!(poller.poll_now().unwrap(), 0);
        wakeup.request_stop();
        assert!(wakeup.stop_requested());
    }

    #[test]
    fn registered_descriptors_are_reported_by_signature() {
        let (mut poller, _wakeup) = Poller::new().unwrap();
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        poller.registry().unwrap().register(&mut SourceFd(&a.as_raw_fd()), Token(42), Interest::READABLE).unwrap();
        use std::io::Write;
        (&b).write_all(b"x").unwrap();
        poller.wait_until(Some(Instant::now() + Duration::from_secs(2))).unwrap();
        let ready: Vec<Ready> = poller.ready().collect();
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].sig, 42);
        assert!(ready[0].readable);
    }
}
