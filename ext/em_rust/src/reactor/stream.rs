//! The data path: reads (plain, datagram, TLS), writes and the turn's queued
//! sends, relaying for proxies, pause.
use super::descriptor::{Kind, Proxy, State};
use super::net;
use super::outbound::{Held, Outbound};
use super::table::{Event, Lend, Table};
use super::tls_session::Progress;
use socket2::{SockAddr, SockRef};
use std::io;
use std::os::fd::BorrowedFd;
use std::time::Instant;

impl Table {
    /// One read; true if there may be more to read now. With `fresh` readiness, a
    /// stream socket read shorter than the buffer has emptied it: no second read
    /// just to see EAGAIN. A stream read that is not proxied lands in `lend` if the
    /// caller lent one.
    pub(super) fn read(&mut self, sig: u64, fresh: bool, lend: &mut Lend) -> bool {
        let Some(d) = self.entries.get(&sig) else { return false };
        if d.paused || d.state != State::Open || d.close_after_writing || d.closing {
            return false;
        }
        if self.budget == 0 {
            self.carry.push(sig);
            return false;
        }
        self.budget -= 1;
        let fd = d.fd;
        let datagram = d.kind == Kind::Datagram;
        // Only our own sockets: an attached tty returns one line per read however
        // many are waiting, so a short read does not mean it is empty.
        let socket = d.owned;
        let lending = !datagram && d.proxy.is_none() && lend.is_some();
        if d.tls.session().is_some() {
            let mut none = None;
            return self.tls_read(sig, if lending { lend } else { &mut none });
        }
        let buf: &mut [u8] = match lend {
            Some(lent) if lending => lent,
            _ => &mut self.buf,
        };
        let capacity = buf.len();
        let (n, peer) = if datagram {
            // SAFETY: sockaddr_storage is plain old data, for which all zeros is a valid value.
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: `buf` and `storage` are live, their own lengths passed; `fd` is the descriptor's open fd.
            let n = unsafe {
                libc::recvfrom(
                    fd,
                    buf.as_mut_ptr().cast(),
                    capacity,
                    0,
                    (&mut storage as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                )
            };
            // SAFETY: on success recvfrom filled `storage` and set `len` to the length of the address it wrote.
            let peer = (n >= 0).then(|| unsafe { SockAddr::new(storage, len) }.as_socket()).flatten();
            (n, peer)
        } else {
            // SAFETY: `buf` is live and its own length is passed; `fd` is this descriptor's open fd.
            (unsafe { libc::read(fd, buf.as_mut_ptr().cast(), capacity) }, None)
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock => false,
                io::ErrorKind::Interrupted => true,
                _ => {
                    if !datagram {
                        self.schedule_close(sig, err.raw_os_error().unwrap_or(libc::EIO));
                    }
                    false
                }
            };
        }
        if n == 0 && !datagram {
            self.schedule_close(sig, 0);
            return false;
        }
        let n = n as usize;
        let d = self.entries.get_mut(&sig).expect("descriptor checked above");
        d.last_activity = Instant::now();
        if peer.is_some() {
            d.last_peer = peer;
        }
        if d.proxy.is_some() {
            self.relay(sig, n);
        } else {
            self.events.push_back(Event::Read { sig, len: n, lent: lending });
        }
        if lending {
            *lend = None; // the caller's now
        }
        datagram || !fresh || !socket || n == capacity
    }

    /// One TLS read (of plaintext into `lend` if lent); true if there may be more now.
    /// Records are read until the buffer is full or OpenSSL has no more for now, so a
    /// stream arrives in buffer-sized Strings, not one per 16 KiB record; what ended
    /// the reading (no data, close, error) is met again by the next read.
    pub(super) fn tls_read(&mut self, sig: u64, lend: &mut Lend) -> bool {
        let d = self.entries.get_mut(&sig).expect("caller checked");
        let tls = d.tls.session_mut().expect("caller checked");
        let lending = lend.is_some();
        let buf: &mut [u8] = match lend {
            Some(lent) => lent,
            None => &mut self.buf,
        };
        let mut filled = 0;
        let mut stopped = None; // what ended the reading before the buffer was full
        while filled < buf.len() {
            match tls.read(&mut buf[filled..]) {
                Ok(Progress::Done(n)) => filled += n,
                other => {
                    stopped = Some(other);
                    break;
                }
            }
        }
        let result = match stopped {
            Some(other) if filled == 0 => other,
            _ => Ok(Progress::Done(filled)),
        };
        match result {
            Ok(Progress::Done(n)) => {
                d.last_activity = Instant::now();
                if d.proxy.is_some() {
                    self.relay(sig, n);
                } else {
                    self.events.push_back(Event::Read { sig, len: n, lent: lending });
                }
                if lending {
                    *lend = None;
                }
                true
            }
            Ok(Progress::WantRead) => false,
            Ok(Progress::WantWrite) => {
                d.tls.set_want_write(true);
                self.update_interest(sig, false);
                false
            }
            Ok(Progress::Closed) => {
                self.schedule_close(sig, 0);
                false
            }
            Err(e) => {
                self.schedule_close(sig, e.raw_os_error().unwrap_or(0));
                false
            }
        }
    }

    /// Moves `n` bytes just read on `sig` to its proxy target.
    pub(super) fn relay(&mut self, sig: u64, n: usize) {
        let Some(Proxy { target, remaining }) = self.entries.get_mut(&sig).and_then(|d| d.proxy.take()) else { return };
        let take = if remaining == 0 { n } else { n.min(remaining as usize) };
        let data = self.buf[..take].to_vec();
        self.send(target, &data);
        let d = self.entries.get_mut(&sig).expect("proxy source");
        d.proxied_bytes += take as u64;
        if remaining != 0 && take as u64 >= remaining {
            self.events.push_back(Event::ProxyCompleted { sig });
            if take < n {
                // What came past the limit is delivered as ordinary data.
                self.buf.copy_within(take..n, 0);
                self.events.push_back(Event::Read { sig, len: n - take, lent: false });
            }
            if let Some(t) = self.entries.get_mut(&target) {
                t.proxied_from.retain(|s| *s != sig);
            }
        } else {
            d.proxy = Some(Proxy { target, remaining: if remaining == 0 { 0 } else { remaining - take as u64 } });
        }
    }

    /// Writes what it can; false if the descriptor is gone.
    pub(super) fn flush(&mut self, sig: u64) -> bool {
        let Some(d) = self.entries.get_mut(&sig) else { return false };
        if d.tls.is_stepping() || d.paused {
            return true; // after the step, with the session back; or on resume
        }
        let before = d.outbound.len();
        if d.closing {
            return false; // closing now: what is unsent is dropped, as EM does
        }
        let flushed = match d.tls.session_mut() {
            Some(tls) if !tls.handshaken() => Ok(d.outbound.is_empty()),
            Some(tls) => {
                let mut want_write = false;
                let result = d.outbound.flush_with(|data| match tls.write(data)? {
                    Progress::Done(n) => Ok(Some(n)),
                    Progress::WantWrite => {
                        want_write = true;
                        Ok(None)
                    }
                    Progress::WantRead => Ok(None),
                    Progress::Closed => Err(io::Error::from_raw_os_error(libc::EPIPE)),
                });
                d.tls.set_want_write(want_write);
                result
            }
            None => d.outbound.flush(d.fd),
        };
        if d.outbound.len() < before {
            d.last_activity = Instant::now(); // get_idle_time counts from the last write too
        }
        if matches!(flushed, Ok(true)) && d.state == State::Open {
            if let Some(params) = d.tls.take_pending() {
                if self.begin_tls(sig, &params).is_err() {
                    self.schedule_close(sig, libc::EPROTO);
                    return false;
                }
                return true;
            }
        }
        match flushed {
            Ok(true) => {
                if d.close_after_writing {
                    self.schedule_close(sig, 0);
                    return false;
                }
                self.update_interest(sig, false);
                true
            }
            Ok(false) => {
                self.update_interest(sig, false);
                true
            }
            Err(e) => {
                d.outbound.clear();
                self.schedule_close(sig, e.raw_os_error().unwrap_or(libc::EIO));
                false
            }
        }
    }

    /// Queues bytes; they are written at the start of the next turn (`flush_queued`).
    /// Returns the bytes accepted: 0 for a descriptor closing (nothing is written
    /// after close), -1 for an unknown one.
    pub fn send(&mut self, sig: u64, data: &[u8]) -> i64 {
        if let Some(done) = self.send_now(sig, data) {
            return done;
        }
        self.queue_outbound(sig, |out| out.push(data));
        data.len() as i64
    }

    /// `send`, of bytes the caller holds for the reactor instead of having them
    /// copied (see `Held`); dropped once written, or at once if not queued.
    pub fn send_held(&mut self, sig: u64, held: Held) -> i64 {
        let len = (*held).as_ref().len() as i64;
        if let Some(done) = self.send_now(sig, (*held).as_ref()) {
            return done;
        }
        self.queue_outbound(sig, |out| out.push_held(held));
        len
    }

    /// What `send` returns when the bytes are not queued: a datagram's (sent now),
    /// or a descriptor's that takes none. None: queue them.
    fn send_now(&mut self, sig: u64, data: &[u8]) -> Option<i64> {
        let Some(d) = self.entries.get_mut(&sig) else { return Some(-1) };
        if d.kind == Kind::Datagram {
            // UDP send_data answers the sender of the last datagram.
            let Some(peer) = d.last_peer else { return Some(0) };
            let fd = d.fd;
            // SAFETY: `fd` is the datagram descriptor's, open while it is in the table; borrowed for this statement.
            return Some(
                SockRef::from(&unsafe { BorrowedFd::borrow_raw(fd) })
                    .send_to(data, &peer.into())
                    .map_or(0, |n| n as i64),
            );
        }
        if d.kind != Kind::Stream || d.close_after_writing || d.closing {
            return Some(0);
        }
        None
    }

    /// Appends to a stream descriptor's outbound bytes (`send_now` said None) and
    /// has them written this turn, or when the descriptor can write.
    fn queue_outbound(&mut self, sig: u64, push: impl FnOnce(&mut Outbound)) {
        let d = self.entries.get_mut(&sig).expect("send_now checked");
        let was_empty = d.outbound.is_empty();
        push(&mut d.outbound);
        if d.state == State::Open && !d.tls.handshaking() {
            // Written at the end of the turn. Bytes already waiting are either queued
            // this turn too or waiting for writability: either way nothing to change.
            if was_empty {
                self.queued.push(sig);
            }
        } else {
            self.update_interest(sig, false);
        }
    }

    /// Writes what `send_data` queued since the last call (`Reactor::prepare` calls
    /// this at the start of every turn): without waiting for writability, and with
    /// all of a turn's sends to a connection in one system call.
    pub fn flush_queued(&mut self) {
        while let Some(sig) = self.queued.pop() {
            self.flush(sig);
        }
    }

    pub fn send_datagram(&mut self, sig: u64, data: &[u8], host: &str, port: u16) -> io::Result<usize> {
        let Some(d) = self.entries.get(&sig) else { return Ok(0) };
        let addr = *net::resolve(host, port)?.first().expect("resolve returns one");
        // SAFETY: `d.fd` is open while `d` is in the table; the borrow ends with this statement.
        let n = SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }).send_to(data, &addr.into())?;
        Ok(n)
    }

    pub fn set_paused(&mut self, sig: u64, paused: bool) -> bool {
        let Some(d) = self.entries.get_mut(&sig) else { return false };
        let changed = d.paused != paused;
        d.paused = paused;
        if changed && !paused {
            // Data may have arrived while paused; the edge is gone, so look again.
            self.carry.push(sig);
            // What was sent while paused goes out now.
            if !d.outbound.is_empty() && !self.queued.contains(&sig) {
                self.queued.push(sig);
            }
        }
        self.update_interest(sig, false);
        changed
    }

    pub fn start_proxy(&mut self, from: u64, to: u64, length: u64) -> bool {
        if !self.entries.contains_key(&to) {
            return false;
        }
        let Some(d) = self.entries.get_mut(&from) else { return false };
        d.proxy = Some(Proxy { target: to, remaining: length });
        d.proxied_bytes = 0;
        self.entries.get_mut(&to).expect("checked").proxied_from.push(from);
        true
    }

    pub fn stop_proxy(&mut self, from: u64) {
        let Some(d) = self.entries.get_mut(&from) else { return };
        if let Some(Proxy { target, .. }) = d.proxy.take() {
            if let Some(t) = self.entries.get_mut(&target) {
                t.proxied_from.retain(|s| *s != from);
            }
        }
    }
}
