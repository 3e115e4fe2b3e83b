//! Direct C API calls for the hot paths (add_timer, next_tick, firing). magnus
//! wraps most calls in rb_protect (a setjmp each); these cannot raise, because they
//! only touch Arrays and Hashes em_rust owns (never frozen, Integer keys) or read
//! instance variables, so they go straight to the C API.
use magnus::rb_sys::{AsRawId, AsRawValue, FromRawValue};
use magnus::value::{Id, ReprValue};
use magnus::{RArray, RHash, Value};

pub fn ary_push(ary: RArray, item: Value) {
    // SAFETY: GVL held; `ary` is a live Array em_rust owns (never frozen), so the push cannot raise.
    unsafe { rb_sys::rb_ary_push(ary.as_raw(), item.as_raw()) };
}

/// The first element, or nil when empty.
pub fn ary_shift(ary: RArray) -> Value {
    // SAFETY: GVL held; `ary` is a live Array em_rust owns (never frozen); shift returns a live value or nil.
    unsafe { Value::from_raw(rb_sys::rb_ary_shift(ary.as_raw())) }
}

/// Stores under an Integer key (Integer#hash and #eql? are built in: no Ruby code runs).
pub fn hash_store(hash: RHash, key: Value, value: Value) {
    // SAFETY: GVL held; `hash` is a live unfrozen Hash em_rust owns and keys are Integers: no Ruby code runs.
    unsafe { rb_sys::rb_hash_aset(hash.as_raw(), key.as_raw(), value.as_raw()) };
}

/// Removes an Integer key; nil if it was absent.
pub fn hash_take(hash: RHash, key: Value) -> Value {
    // SAFETY: GVL held; `hash` is a live unfrozen Hash em_rust owns and keys are Integers: no Ruby code runs.
    unsafe { Value::from_raw(rb_sys::rb_hash_delete(hash.as_raw(), key.as_raw())) }
}

pub fn ivar(obj: impl ReprValue, name: Id) -> Value {
    // SAFETY: GVL held; `obj` is a live object and reading an instance variable cannot raise.
    unsafe { Value::from_raw(rb_sys::rb_ivar_get(obj.as_value().as_raw(), name.as_raw())) }
}

pub fn is_proc(value: Value) -> bool {
    // SAFETY: GVL held; rb_obj_is_proc only reads `value`'s class.
    unsafe { rb_sys::rb_obj_is_proc(value.as_raw()) == rb_sys::Qtrue as rb_sys::VALUE }
}

/// Looks up an Integer key; nil if absent.
pub fn hash_get(hash: RHash, key: Value) -> Value {
    // SAFETY: GVL held; `hash` is a live Hash em_rust owns and keys are Integers: no Ruby code runs.
    unsafe { Value::from_raw(rb_sys::rb_hash_lookup(hash.as_raw(), key.as_raw())) }
}

/// The bytes of a String, for the duration of a call that allocates no Ruby objects.
///
/// # Safety
/// The caller must not run Ruby code (or allocate) while the slice is alive.
// SAFETY: the caller keeps the contract above (as_slice's): no Ruby code or allocation while the slice lives.
pub unsafe fn str_bytes(s: &magnus::RString) -> &[u8] {
    s.as_slice()
}
