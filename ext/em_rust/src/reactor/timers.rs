//! One-shot timers ordered by deadline on the monotonic clock.
//!
//! A binary heap of (deadline, signature): inserting a random deadline costs O(1)
//! on average, and equal deadlines pop in creation order (signatures only grow).
//! Cancelling is lazy — the signature leaves `live` and its heap entry is skipped
//! when it surfaces — and the heap is rebuilt once dead entries outnumber live
//! ones, so add/cancel churn (timeouts reset on every request) cannot grow it.
use super::sig_map::SigMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// The cap set by `EM.set_max_timers` was reached.
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyTimers;

#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    live: SigMap<()>,
    max: Option<usize>,
}

impl Timers {
    pub fn add(&mut self, sig: u64, deadline: Instant) -> Result<(), TooManyTimers> {
        if self.max.is_some_and(|max| self.live.len() >= max) {
            return Err(TooManyTimers);
        }
        self.heap.push(Reverse((deadline, sig)));
        self.live.insert(sig, ());
        Ok(())
    }

    /// True if the timer was pending (it will now never fire).
    pub fn cancel(&mut self, sig: u64) -> bool {
        let was_live = self.live.remove(&sig).is_some();
        if was_live && self.heap.len() > 64 && self.heap.len() > 2 * self.live.len() {
            let live = &self.live;
            self.heap.retain(|Reverse((_, sig))| live.contains_key(sig));
        }
        was_live
    }

    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.drop_dead_head();
        self.heap.peek().map(|Reverse((deadline, _))| *deadline)
    }

    /// Moves every timer due at `now` into `due`, earliest first.
    pub fn take_due(&mut self, now: Instant, due: &mut Vec<u64>) {
        while let Some(&Reverse((deadline, sig))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if self.live.remove(&sig).is_some() {
                due.push(sig);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn set_max(&mut self, max: Option<usize>) {
        self.max = max;
    }

    pub fn clear(&mut self) {
        self.heap.clear();
        self.live.clear();
    }

    fn drop_dead_head(&mut self) {
        while let Some(Reverse((_, sig))) = self.heap.peek() {
            if self.live.contains_key(sig) {
                break;
            }
            self.heap.pop();
        }
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
        t.add(2, now + Duration::from_millis(1)).unwrap();
        assert!(t.cancel(1));
        assert!(!t.cancel(1));
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(1)));
        let mut due = vec![];
        t.take_due(now + Duration::from_secs(1), &mut due);
        assert_eq!(due, vec![2]);
    }

    #[test]
    fn add_cancel_churn_keeps_the_heap_bounded() {
        let now = Instant::now();
        let mut t = Timers::default();
        for sig in 0..100_000 {
            t.add(sig, now + Duration::from_secs(30)).unwrap();
            t.cancel(sig);
        }
        assert_eq!(t.len(), 0);
        assert!(t.heap.len() <= 130, "heap kept {} dead entries", t.heap.len());
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
