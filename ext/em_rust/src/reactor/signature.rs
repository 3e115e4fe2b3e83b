//! Signatures: the Integer handles that tie Ruby objects to timers and descriptors.
//! They grow for the life of the process and are never reused; 0 and 1 are the poll
//! set's reserved tokens.
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(2);

pub fn next_signature() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}
