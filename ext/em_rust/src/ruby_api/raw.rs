//! Direct C API calls for the hot paths (add_timer, next_tick, firing). magnus
//! wraps most calls in rb_protect (a setjmp each); these cannot raise, because they
//! only touch Arrays and Hashes em_rust owns (never frozen, Integer keys) or read
//! instance variables, so they go straight to the C API.
use magnus::rb_sys::{AsRawId, AsRawValue, FromRawValue};
use magnus::value::{Id, ReprValue};
use magnus::{RArray, RHash, RString, Value};

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

/// All of a String's capacity, to write into.
///
/// # Safety
/// `s` must be a String no Ruby code can reach (so none reads, resizes or frees it)
/// and no Ruby code may run or allocate while the slice is alive.
pub unsafe fn str_capacity_mut<'a>(s: RString) -> &'a mut [u8] {
    // SAFETY: GVL held; a String's buffer holds `capacity` bytes (its terminator
    // aside); the caller guarantees nothing else touches it meanwhile.
    unsafe {
        let ptr = rb_sys::RSTRING_PTR(s.as_raw()) as *mut u8;
        std::slice::from_raw_parts_mut(ptr, rb_sys::rb_str_capacity(s.as_raw()) as usize)
    }
}

/// Sets the length of a String em_rust wrote into (`str_capacity_mut`); `len` must be
/// within its capacity.
pub fn str_set_len(s: RString, len: usize) {
    assert!(len <= s.capacity(), "a String's length within its capacity");
    // SAFETY: GVL held; `s` is a live, unshared, unfrozen String em_rust made, and `len` is within its capacity.
    unsafe { rb_sys::rb_str_set_len(s.as_raw(), len as _) };
}

/// A frozen String with `s`'s bytes: `s` itself if frozen, else one sharing its
/// buffer (no copy for a heap String; changing `s` later copies on its side).
pub fn str_new_frozen(s: RString) -> RString {
    // SAFETY: GVL held; rb_str_new_frozen allocates a String (or returns `s`) and runs no Ruby code.
    unsafe { RString::from_value(Value::from_raw(rb_sys::rb_str_new_frozen(s.as_raw()))).expect("a String") }
}
