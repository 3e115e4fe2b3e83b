//! What `EM.stats` reports about the loop. Always on, so it costs no clock read a
//! turn does not already make: a turn's busy time (its callbacks and the reactor's
//! own reads and writes) is the time from its wake-up to the next turn's wake-up
//! minus the wait between them, which is timed only when the loop really blocks.
//! The descriptor census and outbound total are counted when asked.
use super::descriptor::Kind;
use super::table::Table;
use std::cell::Cell;
use std::time::{Duration, Instant};

/// A second's worth of turns, in nanoseconds: the loop lag is the longest turn of
/// this window or the one before it.
const WINDOW: u64 = 1_000_000_000;

/// Times are nanoseconds since `base`, so a turn costs one clock subtraction.
pub struct LoopStats {
    base: Instant,
    turns: Cell<u64>,
    busy: Cell<u64>,
    waited: Cell<u64>,
    /// The wait since the last wake-up, not yet counted into a turn.
    wait_since_wake: Cell<u64>,
    /// When the current turn woke (None before the first).
    woke: Cell<Option<u64>>,
    /// Set while the loop blocks in the poll.
    waiting: Cell<bool>,
    window_start: Cell<u64>,
    window_max: Cell<u64>,
    previous_max: Cell<u64>,
}

/// A snapshot, in seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub turns: u64,
    pub busy: f64,
    pub waited: f64,
    /// The longest turn of the last one to two seconds (or the current one).
    pub lag: f64,
    /// How long the turn in progress has run (0 while the loop waits).
    pub current_turn: f64,
}

fn secs(nanos: u64) -> f64 {
    nanos as f64 / 1e9
}

impl Default for LoopStats {
    fn default() -> Self {
        LoopStats {
            base: Instant::now(),
            turns: Cell::new(0),
            busy: Cell::new(0),
            waited: Cell::new(0),
            wait_since_wake: Cell::new(0),
            woke: Cell::new(None),
            waiting: Cell::new(false),
            window_start: Cell::new(0),
            window_max: Cell::new(0),
            previous_max: Cell::new(0),
        }
    }
}

impl LoopStats {
    fn nanos(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.base).as_nanos() as u64
    }

    /// The loop is about to block in the poll.
    pub fn begin_wait(&self) {
        self.waiting.set(true);
    }

    /// The poll returned after `waited`.
    pub fn end_wait(&self, waited: Duration) {
        self.waiting.set(false);
        self.wait_since_wake.set(self.wait_since_wake.get() + waited.as_nanos() as u64);
    }

    /// A turn woke at `now`: the previous turn's busy time is known now.
    pub fn woke(&self, now: Instant) {
        let now = self.nanos(now);
        self.turns.set(self.turns.get() + 1);
        let waited = self.wait_since_wake.take();
        self.waited.set(self.waited.get() + waited);
        let Some(last) = self.woke.replace(Some(now)) else {
            self.window_start.set(now);
            return;
        };
        let turn = now.saturating_sub(last).saturating_sub(waited);
        self.busy.set(self.busy.get() + turn);
        if now.saturating_sub(self.window_start.get()) >= WINDOW {
            self.previous_max.set(self.window_max.replace(turn));
            self.window_start.set(now);
        } else if turn > self.window_max.get() {
            self.window_max.set(turn);
        }
    }

    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let now = self.nanos(now);
        let current = match self.woke.get() {
            Some(woke) if !self.waiting.get() => now.saturating_sub(woke),
            _ => 0,
        };
        let stale = self.woke.get().is_none() || now.saturating_sub(self.window_start.get()) >= 2 * WINDOW;
        let lag = if stale { 0 } else { self.window_max.get().max(self.previous_max.get()) };
        Snapshot {
            turns: self.turns.get(),
            busy: secs(self.busy.get()),
            waited: secs(self.waited.get()),
            lag: secs(lag.max(current)),
            current_turn: secs(current),
        }
    }
}

/// Open descriptors by kind, and the bytes queued to go out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    pub streams: usize,
    pub acceptors: usize,
    pub datagrams: usize,
    pub watches: usize,
    /// inotify and pidfd descriptors (file and process watches).
    pub other: usize,
    pub outbound_bytes: usize,
}

impl Table {
    pub fn census(&self) -> Census {
        let mut c = Census::default();
        for d in self.entries.values() {
            match d.kind {
                Kind::Stream => c.streams += 1,
                Kind::Acceptor => c.acceptors += 1,
                Kind::Datagram => c.datagrams += 1,
                Kind::Watch => c.watches += 1,
                Kind::Inotify | Kind::Pidfd => c.other += 1,
            }
            c.outbound_bytes += d.outbound.len();
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_is_the_time_between_wake_ups_less_the_wait() {
        let s = LoopStats::default();
        let t0 = Instant::now();
        s.woke(t0);
        s.begin_wait();
        assert_eq!(s.snapshot(t0 + Duration::from_millis(5)).current_turn, 0.0);
        s.end_wait(Duration::from_millis(30));
        s.woke(t0 + Duration::from_millis(40));
        let snap = s.snapshot(t0 + Duration::from_millis(45));
        assert_eq!(snap.turns, 2);
        assert!((snap.busy - 0.010).abs() < 1e-9, "{snap:?}");
        assert!((snap.waited - 0.030).abs() < 1e-9, "{snap:?}");
        assert!((snap.current_turn - 0.005).abs() < 1e-9, "{snap:?}");
        assert!((snap.lag - 0.010).abs() < 1e-9, "{snap:?}");
    }

    #[test]
    fn the_lag_forgets_turns_older_than_two_seconds() {
        let s = LoopStats::default();
        let t0 = Instant::now();
        s.woke(t0);
        s.woke(t0 + Duration::from_millis(300)); // a 300 ms turn
        s.woke(t0 + Duration::from_millis(1400)); // new window, 1.1 s turn
        s.woke(t0 + Duration::from_millis(1401));
        assert!((s.snapshot(t0 + Duration::from_millis(1401)).lag - 1.1).abs() < 1e-9);
        s.begin_wait();
        assert_eq!(s.snapshot(t0 + Duration::from_secs(4)).lag, 0.0);
    }
}
