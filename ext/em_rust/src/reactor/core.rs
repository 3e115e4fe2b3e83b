//! One reactor run, free of Ruby: the poll set, the descriptor table, the timers and
//! the cross-thread wakeup, and every decision of a turn (what to flush, the
//! deadline, whether to block, which timers are due, readiness, descriptor
//! timeouts, the order things come out in). The glue drives a turn:
//!
//! ```text
//! if let Some(wait) = reactor.prepare(ruby_busy)? { reactor.block(wait, <release the GVL around run>)? }
//! reactor.finish(now);
//! while let Some(step) = reactor.next() { <call Ruby for it> }
//! ```
//!
//! Other threads (holding the GVL while the reactor thread waits without it) may
//! use `table`, `timers` and `wakeup`; only the reactor thread uses the poller.
use super::poller::Poller;
use super::stats::LoopStats;
use super::table::{Event, Lend, Table};
use super::timers::Timers;
use super::wakeup::Wakeup;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Instant;

/// What comes out of a turn, in EventMachine's order: the timers due at its start,
/// then the I/O events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Timer(u64),
    Io(Event),
}

/// A wait `prepare` decided on: until `deadline`, or until woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    pub deadline: Option<Instant>,
}

/// The blocking poll, handed to the glue's `block` closure so that it can run it
/// with the GVL released.
pub struct BlockingWait<'a> {
    poller: &'a mut Poller,
    deadline: Option<Instant>,
}

impl BlockingWait<'_> {
    pub fn run(self) -> io::Result<usize> {
        self.poller.wait_until(self.deadline)
    }
}

pub struct Reactor {
    /// `None` after `release`.
    poller: RefCell<Option<Poller>>,
    pub table: RefCell<Table>,
    pub timers: RefCell<Timers>,
    pub wakeup: Arc<Wakeup>,
    /// Turns, busy and waiting time, loop lag (`EM.stats`).
    pub stats: LoopStats,
    /// Timers due this turn, not yet handed out.
    due: RefCell<VecDeque<u64>>,
}

fn released() -> io::Error {
    io::Error::other("the reactor has been released")
}

impl Reactor {
    pub fn new() -> io::Result<Reactor> {
        let (poller, wakeup) = Poller::new()?;
        let table = Table::new(poller.registry()?);
        Ok(Reactor {
            poller: RefCell::new(Some(poller)),
            table: RefCell::new(table),
            timers: RefCell::new(Timers::default()),
            wakeup,
            stats: LoopStats::default(),
            due: RefCell::new(VecDeque::new()),
        })
    }

    /// The start of a turn: what `send_data` queued goes out now, before any wait
    /// (a response sent in pieces leaves in one write, as in EM), then a poll that
    /// does not block. Returns the wait to do when nothing is ready or pending (the
    /// glue says whether Ruby has work queued: `ruby_busy`), nothing is due and no
    /// stop was asked for.
    pub fn prepare(&self, ruby_busy: bool) -> io::Result<Option<Wait>> {
        let mut table = self.table.borrow_mut();
        table.flush_queued();
        let now = Instant::now();
        let deadline = match (self.timers.borrow_mut().next_deadline(), table.next_check()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let busy =
            ruby_busy || table.has_pending() || deadline.is_some_and(|d| d <= now) || self.wakeup.stop_requested();
        let has_io = !table.is_empty();
        drop(table);
        let mut guard = self.poller.borrow_mut();
        let poller = guard.as_mut().ok_or_else(released)?;
        let ready = if has_io { poller.poll_now()? } else { poller.forget_events() };
        Ok((!busy && ready == 0).then_some(Wait { deadline }))
    }

    /// Blocks as `prepare` decided. `blocker` runs the wait it is given (the glue
    /// with the GVL released and an unblock function that calls `wakeup.wake()`);
    /// None from it means it was interrupted before waiting.
    pub fn block<B>(&self, wait: Wait, blocker: B) -> io::Result<()>
    where
        B: FnOnce(BlockingWait<'_>) -> Option<io::Result<usize>>,
    {
        let mut guard = self.poller.borrow_mut();
        let poller = guard.as_mut().ok_or_else(released)?;
        self.wakeup.set_sleeping(true);
        self.stats.begin_wait();
        let start = Instant::now();
        let waited = blocker(BlockingWait { poller, deadline: wait.deadline });
        self.stats.end_wait(start.elapsed());
        self.wakeup.set_sleeping(false);
        waited.transpose().map(drop)
    }

    /// After the wait: readiness goes to the table, descriptor timeouts expire, and
    /// the timers due by `now` are queued for `next`.
    pub fn finish(&self, now: Instant) {
        self.stats.woke(now);
        let guard = self.poller.borrow();
        let mut table = self.table.borrow_mut();
        if let Some(poller) = guard.as_ref() {
            table.take_ready(poller.ready());
        }
        table.check_timeouts(now);
        drop(table);
        let mut due = Vec::new();
        self.timers.borrow_mut().take_due(now, &mut due);
        self.due.borrow_mut().extend(due);
    }

    /// The turn's next step: due timers first, then I/O events; None when the turn
    /// is done. The table is not borrowed once this returns.
    pub fn next(&self) -> Option<Step> {
        self.next_lending(&mut None)
    }

    /// `next`, with a buffer for a stream read to land in (see `Lend`).
    pub fn next_lending(&self, lend: &mut Lend) -> Option<Step> {
        if let Some(sig) = self.due.borrow_mut().pop_front() {
            return Some(Step::Timer(sig));
        }
        self.table.borrow_mut().next_event(lend).map(Step::Io)
    }

    /// Closes every descriptor (each gets its Unbound event) and drops the timers
    /// still due this turn: the run is ending.
    pub fn close_all(&self) {
        self.due.borrow_mut().clear();
        self.table.borrow_mut().close_all();
    }

    /// Closes every descriptor of the run: the table's, the poll set, the timerfd,
    /// the waker's eventfd; forgets the timers.
    pub fn release(&self) {
        self.due.borrow_mut().clear();
        self.table.borrow_mut().release();
        self.poller.borrow_mut().take();
        self.wakeup.close();
        self.timers.borrow_mut().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::descriptor::Kind;
    use crate::reactor::signature::next_signature;
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, IntoRawFd};
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    /// One whole turn as the glue runs it, blocking directly; returns its steps.
    fn turn(reactor: &Reactor) -> Vec<Step> {
        if let Some(wait) = reactor.prepare(false).unwrap() {
            reactor.block(wait, |w| Some(w.run())).unwrap();
        }
        reactor.finish(Instant::now());
        std::iter::from_fn(|| reactor.next()).collect()
    }

    fn attached_pair(reactor: &Reactor) -> (u64, UnixStream, UnixStream) {
        let (ours, peer) = UnixStream::pair().unwrap();
        let sig = reactor.table.borrow_mut().attach(ours.as_raw_fd(), Kind::Stream).unwrap();
        (sig, ours, peer)
    }

    #[test]
    fn a_due_timer_comes_out_before_the_ready_socket_of_the_same_turn() {
        let reactor = Reactor::new().unwrap();
        let (sig, _ours, mut peer) = attached_pair(&reactor);
        peer.write_all(b"hello").unwrap();
        let timer = next_signature();
        reactor.timers.borrow_mut().add(timer, Instant::now()).unwrap();
        let steps = turn(&reactor);
        assert_eq!(steps, vec![Step::Timer(timer), Step::Io(Event::Read { sig, len: 5, lent: false })]);
        assert_eq!(reactor.table.borrow().data(5), b"hello");
    }

    #[test]
    fn a_send_queued_during_a_turn_is_on_the_wire_before_the_next_wait() {
        let reactor = Reactor::new().unwrap();
        let (sig, _ours, mut peer) = attached_pair(&reactor);
        reactor.table.borrow_mut().send(sig, b"queued");
        // A timer far away: the next turn will block after flushing.
        reactor.timers.borrow_mut().add(next_signature(), Instant::now() + Duration::from_millis(30)).unwrap();
        let wait = reactor.prepare(false).unwrap();
        assert!(wait.is_some(), "nothing ready: the turn blocks");
        peer.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut got = [0u8; 16];
        let n = peer.read(&mut got).expect("sent before the wait");
        assert_eq!(&got[..n], b"queued");
    }

    #[test]
    fn a_stop_request_makes_the_turn_non_blocking() {
        let reactor = Reactor::new().unwrap();
        let _pair = attached_pair(&reactor);
        assert!(reactor.prepare(false).unwrap().is_some());
        reactor.wakeup.request_stop();
        assert_eq!(reactor.prepare(false).unwrap(), None);
    }

    #[test]
    fn an_expired_inactivity_timeout_closes_with_etimedout() {
        let reactor = Reactor::new().unwrap();
        let (sig, _ours, _peer) = attached_pair(&reactor);
        reactor.table.borrow_mut().set_inactivity_timeout(sig, Some(Duration::from_millis(20)));
        let start = Instant::now();
        let mut steps = Vec::new();
        while steps.is_empty() && start.elapsed() < Duration::from_secs(2) {
            steps = turn(&reactor);
        }
        assert_eq!(steps, vec![Step::Io(Event::Unbound { sig, errno: libc::ETIMEDOUT })]);
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_watch_whose_fd_was_closed_and_reused_leaves_the_new_registration_alone() {
        let reactor = Reactor::new().unwrap();
        let (ours, _peer) = UnixStream::pair().unwrap();
        let fd = ours.into_raw_fd();
        let stale = reactor.table.borrow_mut().attach(fd, Kind::Watch).unwrap();
        reactor.table.borrow_mut().set_notify(stale, Some(true), None);
        // Its owner closes it behind the reactor's back and the number is reused
        // (dup2 does both at once, so no other thread's fd can take the number).
        let (fresh, mut peer) = UnixStream::pair().unwrap();
        // SAFETY: both fds are open and ours; dup2 closes `fd`'s old socket (nothing else holds it).
        assert_eq!(unsafe { libc::dup2(fresh.as_raw_fd(), fd) }, fd);
        drop(fresh);
        let sig = reactor.table.borrow_mut().attach(fd, Kind::Stream).unwrap();
        reactor.table.borrow_mut().set_notify(stale, Some(false), None);
        reactor.table.borrow_mut().detach(stale);
        peer.write_all(b"still polled").unwrap();
        let reads: Vec<Step> =
            turn(&reactor).into_iter().filter(|s| matches!(s, Step::Io(Event::Read { .. }))).collect();
        assert_eq!(reads, vec![Step::Io(Event::Read { sig, len: 12, lent: false })]);
        // SAFETY: `fd` is open and no descriptor owns it (attached, not owned).
        unsafe { libc::close(fd) };
    }

    #[test]
    fn the_same_fd_attached_twice_is_polled_for_the_newer_descriptor() {
        let reactor = Reactor::new().unwrap();
        let (ours, mut peer) = UnixStream::pair().unwrap();
        let older = reactor.table.borrow_mut().attach(ours.as_raw_fd(), Kind::Watch).unwrap();
        reactor.table.borrow_mut().set_notify(older, Some(true), None);
        let newer = reactor.table.borrow_mut().attach(ours.as_raw_fd(), Kind::Stream).unwrap();
        reactor.table.borrow_mut().set_notify(older, Some(true), None); // stale: no poll change
        peer.write_all(b"for the newer").unwrap();
        let steps = turn(&reactor);
        assert_eq!(steps, vec![Step::Io(Event::Read { sig: newer, len: 13, lent: false })]);
        reactor.table.borrow_mut().detach(older); // leaves the newer's registration alone
        peer.write_all(b"again").unwrap();
        let reads: Vec<Step> =
            turn(&reactor).into_iter().filter(|s| matches!(s, Step::Io(Event::Read { .. }))).collect();
        assert_eq!(reads, vec![Step::Io(Event::Read { sig: newer, len: 5, lent: false })]);
    }

    #[test]
    fn after_release_a_turn_fails_instead_of_polling_a_closed_set() {
        let reactor = Reactor::new().unwrap();
        let (sig, _ours, _peer) = attached_pair(&reactor);
        reactor.release();
        assert!(reactor.prepare(false).is_err());
        assert!(reactor.table.borrow().get(sig).is_none());
    }
}
