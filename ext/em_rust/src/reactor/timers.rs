//! One-shot timers ordered by deadline on the monotonic clock.
//!
//! A radix heap of (deadline in ns since `base`, signature): timers only ever come
//! out at or after the last deadline taken, which is what a radix heap needs, and
//! its buckets are plain Vecs, so inserting costs O(1) and taking the earliest an
//! amortised handful of sequential moves (a binary heap of 200,000 timers spent
//! most of its time in cache misses). Equal deadlines come out in creation order
//! (signatures only grow). Cancelling is lazy — the signature leaves `live` and its
//! entry is skipped when it surfaces — and the buckets are swept once dead entries
//! outnumber live ones, so add/cancel churn (timeouts reset on every request)
//! cannot grow them.
use super::sig_map::SigMap;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// The cap set by `EM.set_max_timers` was reached.
#[derive(Debug, PartialEq, Eq)]
pub struct TooManyTimers;

/// Bucket 0 holds the entries whose key equals `last` (the smallest key the buckets
/// hold, once `min` has looked); bucket i (1..=64) those whose highest bit
/// differing from `last` is bit i - 1. Looking for the next deadline moves `last`
/// up to it, so a timer added afterwards may be earlier: such keys wait in `early`
/// (a binary heap; they are the few that fire soonest).
struct RadixHeap {
    last: u64,
    len: usize,
    buckets: Vec<Vec<(u64, u64)>>,
    early: BinaryHeap<Reverse<(u64, u64)>>,
}

impl Default for RadixHeap {
    fn default() -> Self {
        RadixHeap { last: 0, len: 0, buckets: (0..65).map(|_| Vec::new()).collect(), early: BinaryHeap::new() }
    }
}

fn bucket(key: u64, last: u64) -> usize {
    64 - (key ^ last).leading_zeros() as usize
}

impl RadixHeap {
    fn push(&mut self, key: u64, sig: u64) {
        self.len += 1;
        if key < self.last {
            self.early.push(Reverse((key, sig)));
            return;
        }
        match bucket(key, self.last) {
            0 => self.buckets[0].insert(0, (key, sig)), // after the older ones of that key
            i => self.buckets[i].push((key, sig)),
        }
    }

    /// The smallest key; unless it is an early one, bucket 0 holds it afterwards.
    fn min(&mut self) -> Option<u64> {
        if self.len == 0 {
            return None; // the common case of a loop with no timer: no bucket scan
        }
        if let Some(Reverse((key, _))) = self.early.peek() {
            return Some(*key);
        }
        if self.buckets[0].is_empty() {
            let i = (1..65).find(|&i| !self.buckets[i].is_empty())?;
            let mut items = std::mem::take(&mut self.buckets[i]);
            self.last = items.iter().map(|&(k, _)| k).min().expect("bucket is not empty");
            for (k, s) in items.drain(..) {
                self.buckets[bucket(k, self.last)].push((k, s));
            }
            // `items` keeps its capacity. Equal keys in creation order: bucket 0 is taken from the back.
            self.buckets[i] = items;
            self.buckets[0].sort_unstable_by_key(|&(_, sig)| Reverse(sig));
        }
        (!self.buckets[0].is_empty()).then_some(self.last)
    }

    /// Takes one entry of the smallest key.
    fn pop(&mut self) -> Option<(u64, u64)> {
        self.min()?;
        self.len -= 1;
        match self.early.pop() {
            Some(Reverse(entry)) => Some(entry),
            None => self.buckets[0].pop(),
        }
    }

    /// The entry `pop` would take.
    fn peek(&mut self) -> Option<(u64, u64)> {
        self.min()?;
        match self.early.peek() {
            Some(Reverse(entry)) => Some(*entry),
            None => self.buckets[0].last().copied(),
        }
    }

    fn retain(&mut self, mut keep: impl FnMut(u64) -> bool) {
        for b in &mut self.buckets {
            b.retain(|&(_, s)| keep(s));
        }
        self.early.retain(|Reverse((_, s))| keep(*s));
        self.len = self.buckets.iter().map(Vec::len).sum::<usize>() + self.early.len();
    }

    fn clear(&mut self) {
        self.buckets.iter_mut().for_each(Vec::clear);
        self.early.clear();
        self.len = 0;
    }
}

pub struct Timers {
    base: Instant,
    heap: RadixHeap,
    live: SigMap<()>,
    max: Option<usize>,
}

impl Default for Timers {
    fn default() -> Self {
        Timers { base: Instant::now(), heap: RadixHeap::default(), live: SigMap::default(), max: None }
    }
}

impl Timers {
    fn key(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn add(&mut self, sig: u64, deadline: Instant) -> Result<(), TooManyTimers> {
        if self.max.is_some_and(|max| self.live.len() >= max) {
            return Err(TooManyTimers);
        }
        let key = self.key(deadline);
        self.heap.push(key, sig);
        self.live.insert(sig, ());
        Ok(())
    }

    /// True if the timer was pending (it will now never fire).
    pub fn cancel(&mut self, sig: u64) -> bool {
        let was_live = self.live.remove(&sig).is_some();
        if was_live && self.heap.len > 64 && self.heap.len > 2 * self.live.len() {
            let live = &self.live;
            self.heap.retain(|sig| live.contains_key(&sig));
        }
        was_live
    }

    /// The earliest pending deadline (cancelled timers at the head are dropped).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        loop {
            let (key, sig) = self.heap.peek()?;
            if self.live.contains_key(&sig) {
                return Some(self.base + Duration::from_nanos(key));
            }
            self.heap.pop();
        }
    }

    /// Moves every timer due at `now` into `due`, earliest first.
    pub fn take_due(&mut self, now: Instant, due: &mut Vec<u64>) {
        let now = self.key(now);
        while self.heap.min().is_some_and(|key| key <= now) {
            let (_, sig) = self.heap.pop().expect("min found one");
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
    fn many_timers_come_out_in_deadline_then_creation_order() {
        let now = Instant::now();
        let mut t = Timers::default();
        let mut expected = Vec::new();
        let mut x: u64 = 12345;
        for sig in 0..20_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let at = now + Duration::from_micros((x >> 33) % 5_000);
            t.add(sig, at).unwrap();
            expected.push((at, sig));
        }
        expected.sort();
        let mut due = vec![];
        for step in 1..=60 {
            t.take_due(now + Duration::from_micros(step * 100), &mut due);
        }
        assert_eq!(due.len(), expected.len());
        assert!(due == expected.iter().map(|&(_, s)| s).collect::<Vec<u64>>(), "out of order");
        // A deadline already past is due at once, after the older timers of the same moment.
        t.add(30_000, now + Duration::from_secs(10)).unwrap();
        t.add(30_001, now + Duration::from_secs(10)).unwrap();
        t.take_due(now + Duration::from_secs(10), &mut due);
        t.add(30_002, now).unwrap();
        t.add(30_003, now).unwrap();
        due.clear();
        t.take_due(now + Duration::from_secs(10), &mut due);
        assert_eq!(due, vec![30_002, 30_003]);
        assert!(t.is_empty());
    }

    #[test]
    fn a_timer_added_after_a_look_at_a_later_deadline_still_comes_first() {
        let now = Instant::now();
        let mut t = Timers::default();
        t.add(1, now + Duration::from_millis(20)).unwrap();
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(20)));
        t.add(2, now + Duration::from_millis(1)).unwrap();
        t.add(3, now + Duration::from_millis(1)).unwrap();
        assert_eq!(t.next_deadline(), Some(now + Duration::from_millis(1)));
        let mut due = vec![];
        t.take_due(now + Duration::from_millis(30), &mut due);
        assert_eq!(due, vec![2, 3, 1]);
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
        assert!(t.heap.len <= 130, "heap kept {} dead entries", t.heap.len);
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
