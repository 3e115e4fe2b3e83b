//! Deadlines the descriptor table needs: inactivity and connect timeouts, and
//! the retry of listeners starved of descriptors.
use super::poller::Ready;
use super::table::Table;
use std::time::{Duration, Instant};

/// How long an acceptor starved of descriptors waits before it tries again.
pub(super) const STARVED_RETRY: Duration = Duration::from_millis(50);

impl Table {
    /// The next timeout check, when the loop must wake for it: the earlier of the
    /// earliest descriptor expiry (so a 0.5 s timeout fires at 0.5 s, as in EM) and
    /// the starved acceptors' retry. Also remembered as `check_at`, before which
    /// `check_timeouts` does nothing.
    pub fn next_check(&mut self) -> Option<Instant> {
        let next = match (self.expiry_hint, self.starved_retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.check_at = next;
        next
    }

    /// The timeout check, once `check_at` has passed: expired timeouts close their
    /// descriptors with ETIMEDOUT; starved acceptors retry.
    pub fn check_timeouts(&mut self, now: Instant) {
        if self.check_at.is_none_or(|at| now < at) {
            return;
        }
        self.check_at = None;
        if self.expiry_hint.is_some_and(|at| at <= now) {
            let mut expired = Vec::new();
            let mut earliest: Option<Instant> = None;
            for (sig, d) in &self.entries {
                match d.expiry() {
                    Some(_) if d.timed_out(now) => expired.push(*sig),
                    Some(at) => earliest = Some(earliest.map_or(at, |e| e.min(at))),
                    None => {}
                }
            }
            self.expiry_hint = earliest;
            for sig in expired {
                self.schedule_close(sig, libc::ETIMEDOUT);
            }
        }
        if self.starved_retry.is_some_and(|at| at <= now) {
            self.starved_retry = None;
            for sig in std::mem::take(&mut self.starved_acceptors) {
                self.ready.push_back(Ready { sig, readable: true, writable: false, closed: false, fresh: false });
            }
        }
    }

    /// A descriptor's timeouts changed (or it started or finished connecting):
    /// the loop must wake by its new expiry.
    pub fn timeouts_changed(&mut self, sig: u64) {
        if let Some(at) = self.entries.get(&sig).and_then(|d| d.expiry()) {
            self.expiry_hint = Some(self.expiry_hint.map_or(at, |h| h.min(at)));
        }
    }

    /// `set_comm_inactivity_timeout`: None turns it off. The idle clock restarts now.
    /// False for an unknown descriptor.
    pub fn set_inactivity_timeout(&mut self, sig: u64, timeout: Option<Duration>) -> bool {
        let Some(d) = self.entries.get_mut(&sig) else { return false };
        d.inactivity_timeout = timeout;
        d.last_activity = Instant::now();
        self.timeouts_changed(sig);
        true
    }

    /// `set_pending_connect_timeout`: None keeps the current one.
    pub fn set_connect_timeout(&mut self, sig: u64, timeout: Option<Duration>) -> bool {
        let Some(d) = self.entries.get_mut(&sig) else { return false };
        if let Some(timeout) = timeout {
            d.connect_timeout = timeout;
        }
        self.timeouts_changed(sig);
        true
    }
}
