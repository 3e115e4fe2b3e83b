//! What other threads may touch while the reactor waits: the waker, the flag that
//! says the reactor is (about to be) blocked, and the stop request.
use mio::Waker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

pub struct Wakeup {
    /// `None` once the reactor is released (its eventfd closed); wakes then reach nobody.
    waker: Mutex<Option<Waker>>,
    sleeping: AtomicBool,
    stop: AtomicBool,
}

impl Wakeup {
    pub fn new(waker: Waker) -> Self {
        Wakeup { waker: Mutex::new(Some(waker)), sleeping: AtomicBool::new(false), stop: AtomicBool::new(false) }
    }

    /// Interrupts a blocked wait (or the next one). Safe from any thread.
    pub fn wake(&self) {
        if let Some(waker) = self.waker.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = waker.wake();
        }
    }

    /// Closes the waker's descriptor (the poll set it woke is gone).
    pub fn close(&self) {
        self.waker.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// Wakes the reactor only if it is blocked, and only once per wait: the first
    /// nudge clears `sleeping`, so a burst of results from worker threads costs one
    /// system call. Callers hold the Ruby GVL, as does the reactor when it sets
    /// `sleeping`, so a push followed by `nudge` is never missed.
    pub fn nudge(&self) {
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::SeqCst) {
            self.wake();
        }
    }

    pub fn set_sleeping(&self, sleeping: bool) {
        self.sleeping.store(sleeping, Ordering::SeqCst);
    }

    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        self.nudge();
    }

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
