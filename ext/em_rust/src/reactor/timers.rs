//! One-shot timers ordered by deadline on the monotonic clock.
//!
//! A `BTreeSet<(Instant, sig)>` keeps equal deadlines in creation order (signatures
//! only grow) and makes cancel O(log n); the map finds a timer's deadline by signature.
use super::sig_map::SigMap;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// The cap set by `EM.set_max_timers` was reached.
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyTimers;

#[derive(Default)]
pub struct Timers {
    queue: BTreeSet<(Instant, u64)>,
    deadlines: SigMap<Instant>,
    max: Option<usize>,
}

impl Timers {
    pub fn add(&mut self, sig: u64, deadline: Instant) -> Result<(), TooManyTimers> {
        if self.max.is_some_and(|max| self.queue.len() >= max) {
            return Err(TooManyTimers);
        }
        self.queue.insert((deadline, sig));
        self.deadlines.insert(sig, deadline);
        Ok(())
    }

    /// True if the timer was pending (it will now never fire).
    pub fn cancel(&mut self, sig: u64) -> bool {
        match self.deadlines.remove(&sig) {
            Some(deadline) => self.queue.remove(&(deadline, sig)),
            None => false,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.first().map(|&(deadline, _)| deadline)
    }

    /// Moves every timer due at `now` into `due`, earliest first.
    pub fn take_due(&mut self, now: Instant, due: &mut Vec<u64>) {
        while let Some(&(deadline, sig)) = self.queue.first() {
            if deadline > now {
                break;
            }
            self.queue.pop_first();
            self.deadlines.remove(&sig);
            due.push(sig);
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn set_max(&mut self, max: Option<usize>) {
        self.max = max;
    }

    pub fn clear(&mut self) {
        self.queue.clear();
        self.deadlines.clear();
    }
}

/// `now + secs`, saturating far in the future instead of overflowing (EM users pass
/// intervals like 1.19e10 s to mean "never").
pub fn deadline_after(now: Instant, secs: f64) -> Instant {
    const FAR: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    let wait = Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(FAR).min(FAR);
    now.checked_add(wait).unwrap_or(now + FAR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_deadline_order_and_creation_order_for_ties() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.add(1, now + Duration::from_millis(20)).unwrap();
        t.add(2, now + Duration::from_millis(10)).unwrap();
        t.add(3, now + Duration::from_millis(10)).unwrap();
        let mut due = vec![];
        t.take_due(now + Duration::from_millis(15), &mut due);
        assert_eq!(due, vec![2, 3]);
        t.take_due(now + Duration::from_millis(25), &mut due);
        assert_eq!(due, vec![2, 3, 1]);
        assert!(t.is_empty());
    }

    #[test]
    fn cancel_removes_exactly_one_timer() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.add(1, now).unwrap();
        t.add(2, now).unwrap();
        assert!(t.cancel(1));
        assert!(!t.cancel(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(now));
    }

    #[test]
    fn cap_applies_only_when_set() {
        let now = Instant::now();
        let mut t = Timers::default();
        for sig in 0..1000 {
            t.add(sig, now).unwrap();
        }
        t.set_max(Some(1000));
        assert_eq!(t.add(5000, now), Err(TooManyTimers));
        t.set_max(None);
        assert!(t.add(5000, now).is_ok());
    }

    #[test]
    fn huge_and_odd_intervals_saturate() {
        let now = Instant::now();
        assert!(deadline_after(now, 1.19e10) > now + Duration::from_secs(1_000_000));
        assert!(deadline_after(now, f64::INFINITY) > now);
        assert_eq!(deadline_after(now, -1.0), now);
        assert_eq!(deadline_after(now, 0.0005), now + Duration::from_micros(500));
    }
}
