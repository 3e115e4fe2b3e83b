//! `send_data` of a big String without copying its bytes. The reactor writes a
//! frozen snapshot of it (`rb_str_new_frozen`: for a heap String it shares the
//! buffer, and a later change to the caller's String copies on the caller's side),
//! which a Hash here keeps alive until the reactor drops the chunk: written, or
//! its connection closed. The drop sends the chunk's key back; `let_go`, each turn
//! and on each hold, deletes the keys that came back.
use super::raw;
use crate::reactor::outbound::Held;
use crate::reactor::signature::next_signature;
use crossbeam_channel::{unbounded, Receiver, Sender};
use magnus::{gc::Marker, prelude::*, value::Opaque, RHash, RString, Ruby};
use std::cell::Cell;

pub struct HeldStrings {
    /// Key => frozen String, created with the first hold (after the Machine's
    /// wrapper exists, which marks it).
    strings: Cell<Option<Opaque<RHash>>>,
    done_tx: Sender<u64>,
    done_rx: Receiver<u64>,
}

impl Default for HeldStrings {
    fn default() -> Self {
        let (done_tx, done_rx) = unbounded();
        HeldStrings { strings: Cell::new(None), done_tx, done_rx }
    }
}

/// A held String's bytes, as the reactor sees them.
struct Kept {
    ptr: *const u8,
    len: usize,
    key: u64,
    done: Sender<u64>,
}

// SAFETY: the pointer is only read while the Hash keeps the frozen String (and so
// its buffer) alive, by code that holds the GVL, on whichever thread that is.
unsafe impl Send for Kept {}

impl AsRef<[u8]> for Kept {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` and `len` are a frozen heap String's (at least HOLD_MIN
        // bytes, never embedded, so the buffer does not move with the object), and
        // the Hash keeps it until this Kept is dropped and its key comes back.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let _ = self.done.send(self.key);
    }
}

impl HeldStrings {
    /// Holds a snapshot of `data` (at least HOLD_MIN bytes) for the reactor.
    pub fn hold(&self, ruby: &Ruby, data: RString) -> Held {
        self.let_go(ruby);
        let snapshot = raw::str_new_frozen(data);
        let key = next_signature();
        raw::hash_store(self.strings(ruby), ruby.integer_from_u64(key).as_value(), snapshot.as_value());
        // SAFETY: read only for the pointer and length; `snapshot` is kept in the Hash.
        let bytes = unsafe { raw::str_bytes(&snapshot) };
        Box::new(Kept { ptr: bytes.as_ptr(), len: bytes.len(), key, done: self.done_tx.clone() })
    }

    /// Lets go of the Strings whose chunks the reactor dropped.
    pub fn let_go(&self, ruby: &Ruby) {
        let Some(strings) = self.strings.get() else { return };
        let strings = ruby.get_inner(strings);
        while let Ok(key) = self.done_rx.try_recv() {
            raw::hash_take(strings, ruby.integer_from_u64(key).as_value());
        }
    }

    pub fn mark(&self, marker: &Marker) {
        if let Some(strings) = self.strings.get() {
            marker.mark(strings);
        }
    }

    fn strings(&self, ruby: &Ruby) -> RHash {
        match self.strings.get() {
            Some(strings) => ruby.get_inner(strings),
            None => {
                let strings = ruby.hash_new();
                self.strings.set(Some(strings.into()));
                strings
            }
        }
    }
}
