//! A Linux timerfd on CLOCK_MONOTONIC. epoll's timeout has millisecond resolution
//! (mio rounds it up), which makes every timer up to 1 ms late; a timerfd in the
//! poll set wakes the loop at the deadline to the nanosecond.
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

pub struct TimerFd {
    fd: OwnedFd,
    armed: Option<Instant>,
}

impl TimerFd {
    pub fn new() -> io::Result<Self> {
        // SAFETY: timerfd_create takes flags only; the result is checked.
        let fd = unsafe { libc::timerfd_create(libc::CLOCK_MONOTONIC, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created, is valid and owned by nothing else.
        Ok(TimerFd { fd: unsafe { OwnedFd::from_raw_fd(fd) }, armed: None })
    }

    /// Makes the fd readable at `deadline` (or now, if it has passed). Re-arming for the
    /// same deadline costs no system call.
    pub fn arm(&mut self, deadline: Instant) -> io::Result<()> {
        if self.armed == Some(deadline) {
            return Ok(());
        }
        // A zero it_value disarms a timerfd, so a passed deadline becomes 1 ns.
        let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_nanos(1));
        self.set(wait)?;
        self.armed = Some(deadline);
        Ok(())
    }

    pub fn disarm(&mut self) -> io::Result<()> {
        if self.armed.take().is_some() {
            self.set(Duration::ZERO)?;
        }
        Ok(())
    }

    /// Called when the fd was reported readable: consumes the expiration.
    pub fn expired(&mut self) {
        let mut count = [0u8; 8];
        // SAFETY: `count` is 8 bytes, the length passed; the fd is this TimerFd's own.
        unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), 8) };
        self.armed = None;
    }

    fn set(&self, wait: Duration) -> io::Result<()> {
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec {
                tv_sec: wait.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: wait.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a live itimerspec; a null old-value pointer is allowed; the fd is this TimerFd's own.
        let rc = unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
