//! The spare String a stream read lands in. The reactor reads into the capacity of
//! a String Ruby has not seen yet (`Reactor::next_lending`); a read that fills at
//! least half of it becomes the `receive_data` String as it is, so the bytes are
//! copied once, by the kernel, instead of again out of the reactor's buffer. A
//! smaller read is copied into a String of its own size and the spare kept.
use super::machine::Machine;
use super::raw;
use crate::reactor::core::Step;
use crate::reactor::table::READ_CHUNK;
use magnus::{RString, Ruby};

impl Machine {
    /// The turn's next step, with the spare String lent for a stream read.
    pub(super) fn next_lending(&self, ruby: &Ruby) -> Option<Step> {
        let spare = self.spare(ruby);
        // SAFETY: only this Machine holds `spare` (marked by it), and no Ruby code runs
        // or allocates inside `next_lending`, which is all the slice lives for.
        let mut lend = Some(unsafe { raw::str_capacity_mut(spare) });
        self.reactor.next_lending(&mut lend)
    }

    /// The String for a read of `len` bytes into the spare.
    pub(super) fn take_lent(&self, ruby: &Ruby, len: usize) -> RString {
        let spare = self.spare(ruby);
        if len * 2 < spare.capacity() {
            // SAFETY: `spare` is ours and `len` within its capacity (the read wrote
            // them); the slice is copied before anything else runs.
            return ruby.str_from_slice(unsafe { &raw::str_capacity_mut(spare)[..len] });
        }
        self.spare.set(None);
        raw::str_set_len(spare, len);
        spare
    }

    fn spare(&self, ruby: &Ruby) -> RString {
        match self.spare.get() {
            Some(spare) => ruby.get_inner(spare),
            None => {
                let spare = ruby.str_buf_new(READ_CHUNK);
                self.spare.set(Some(spare.into()));
                spare
            }
        }
    }
}
