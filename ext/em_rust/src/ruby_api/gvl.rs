//! The one place the GVL is released: around a blocking wait whose unblocking
//! function makes it return (wakes the mio Waker, kicks a worker's wait), so
//! Ctrl-C, Thread#raise and Thread#kill interrupt it at once.
use magnus::Error;
use std::ffi::c_void;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

struct Call<F, R> {
    func: Option<F>,
    result: Option<std::thread::Result<R>>,
}

// SAFETY: rb_nogvl passes back the `data` given it, a `*mut Call<F, R>` to a Call alive in the caller's frame.
unsafe extern "C" fn run_call<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    let call = &mut *(data as *mut Call<F, R>);
    if let Some(func) = call.func.take() {
        call.result = Some(catch_unwind(AssertUnwindSafe(func)));
    }
    std::ptr::null_mut()
}

// SAFETY: rb_nogvl passes back the `data` given it, a `*const U` to an unblock alive in the caller's frame.
unsafe extern "C" fn run_unblock<U: Fn()>(data: *mut c_void) {
    let unblock = &*(data as *const U);
    let _ = catch_unwind(AssertUnwindSafe(unblock));
}

/// Whether the unblocking function may run inside a signal handler.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unblock {
    /// It only writes to an fd (the mio Waker's eventfd): Ruby may then call it from
    /// its signal handler, which is how a SIGINT sent to the process reaches a
    /// reactor blocked in epoll_wait on the main thread.
    SignalSafe,
    /// It may allocate or lock: called from other threads only (Thread#raise/#kill).
    ThreadsOnly,
}

/// Runs `func` without the GVL. Returns `None` without running it when Ruby has an
/// interrupt pending (the caller then calls `check_interrupts`). A panic in `func`
/// is resumed here, with the GVL held, where magnus turns it into a Ruby exception.
pub fn without_gvl<F, R, U>(func: F, unblock: U, safety: Unblock) -> Option<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
    U: Fn() + Sync,
{
    let mut call = Call { func: Some(func), result: None };
    let mut flags = rb_sys::RB_NOGVL_INTR_FAIL as i32;
    if safety == Unblock::SignalSafe {
        flags |= rb_sys::RB_NOGVL_UBF_ASYNC_SAFE as i32;
    }
    // SAFETY: `call` and `unblock` outlive rb_nogvl, which calls both functions only with the pointers given here.
    unsafe {
        rb_sys::rb_nogvl(
            Some(run_call::<F, R>),
            &mut call as *mut Call<F, R> as *mut c_void,
            Some(run_unblock::<U>),
            &unblock as *const U as *mut c_void,
            flags,
        );
    }
    match call.result {
        None => None,
        Some(Ok(result)) => Some(result),
        Some(Err(panic)) => resume_unwind(panic),
    }
}

/// Delivers pending interrupts (signals, Thread#raise, Thread#kill) as an `Err`
/// instead of a longjmp through Rust frames.
pub fn check_interrupts() -> Result<(), Error> {
    magnus::rb_sys::protect(|| {
        // SAFETY: the GVL is held; an interrupt's longjmp is caught by `protect`, so it never crosses Rust frames.
        unsafe { rb_sys::rb_thread_check_ints() };
        rb_sys::Qnil as rb_sys::VALUE
    })
    .map(|_| ())
}

/// Runs `func` without the GVL, interrupted the way Ruby interrupts its own socket
/// reads (`RUBY_UBF_IO`): Ruby signals the thread, so a blocking poll(2) in `func`
/// returns EINTR, and keeps signalling until `func` returns. `func` must treat
/// EINTR as "return now". For waits on a plain fd where no waker is at hand (the
/// synchronous RethinkDB socket). Returns `None` without running `func` when an
/// interrupt is already pending.
pub fn without_gvl_io<F, R>(func: F) -> Option<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    let mut call = Call { func: Some(func), result: None };
    // RUBY_UBF_IO is `(rb_unblock_function_t *)-1`: rb_nogvl swaps in ubf_select.
    // SAFETY: rb_nogvl swaps RUBY_UBF_IO (-1) for its own ubf_select, so this pointer is never called.
    let ubf_io: unsafe extern "C" fn(*mut c_void) = unsafe { std::mem::transmute(usize::MAX) };
    // SAFETY: `call` outlives rb_nogvl; RUBY_UBF_IO needs no data, so the null pointer is never read.
    unsafe {
        rb_sys::rb_nogvl(
            Some(run_call::<F, R>),
            &mut call as *mut Call<F, R> as *mut c_void,
            Some(ubf_io),
            std::ptr::null_mut(),
            rb_sys::RB_NOGVL_INTR_FAIL as i32,
        );
    }
    match call.result {
        None => None,
        Some(Ok(result)) => Some(result),
        Some(Err(panic)) => resume_unwind(panic),
    }
}
