//! The descriptor table and what happens on readiness: connects complete, accepts,
//! reads (into one shared buffer, handed out one event at a time), writes, closes
//! and timeouts. The glue pulls `Event`s with `next_event` and calls Ruby for each;
//! it never holds this table borrowed across a call into Ruby.
use super::descriptor::{Descriptor, Kind, Proxy, State};
use super::net;
use super::poller::Ready;
use super::sig_map::SigMap;
use super::signature::next_signature;
use super::tls::{Progress, TlsError, TlsParams, TlsSession};
use super::watches::{self, Inotify};
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use socket2::{SockAddr, SockRef};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{BorrowedFd, IntoRawFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// Bytes read per `read` call, and reads per descriptor per turn before others get
/// a go (fairness); a descriptor cut short is read again next turn.
pub const READ_CHUNK: usize = 64 * 1024;
const READS_PER_TURN: usize = 16;
/// Accepts per readiness of a listener unless `set_simultaneous_accept_count` says otherwise.
const ACCEPTS_PER_TURN: usize = 256;
/// How long an acceptor starved of descriptors waits before it tries again.
const STARVED_RETRY: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `len` bytes arrived; they are in `Io::data()`.
    Read { sig: u64, len: usize },
    Completed { sig: u64 },
    Accepted { server: u64, sig: u64 },
    /// Closed; `errno` is the reason (0 for a plain close or EOF).
    Unbound { sig: u64, errno: i32 },
    /// A watch saw something: delivered as `receive_data(what)` (EM's protocol for
    /// FileWatch and ProcessWatch).
    Notice { sig: u64, what: &'static str },
    NotifyReadable { sig: u64 },
    NotifyWritable { sig: u64 },
    /// The TLS handshake finished (ssl_verify_peer / ssl_handshake_completed follow).
    TlsHandshaken { sig: u64 },
    /// The handshake can advance: for the glue, not for Ruby. It takes the step
    /// outside the table (`take_tls_step`, then `finish_tls_step`) because the
    /// step may ask ssl_verify_peer, which may use the table.
    TlsStep { sig: u64 },
    ProxyTargetUnbound { sig: u64 },
    ProxyCompleted { sig: u64 },
}

#[derive(Debug)]
pub enum ConnectError {
    /// The name did not resolve (EM raises ConnectionError "unable to resolve address").
    Resolve(io::Error),
    /// The bind address did not resolve ("invalid bind address: ...").
    BindResolve(io::Error),
    /// Binding failed: no such local address, or in use ("couldn't bind to address").
    Bind(io::Error),
    Other(io::Error),
}

/// The poll set's registry until the reactor is released: then registering fails
/// and deregistering is moot (the epoll descriptor is closed).
struct Registration(Option<Registry>);

impl Registration {
    fn get(&self) -> io::Result<&Registry> {
        self.0.as_ref().ok_or_else(|| io::Error::new(io::ErrorKind::Other, "the reactor has been released"))
    }

    fn register(&self, fd: &RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.get()?.register(&mut SourceFd(fd), token, interest)
    }

    fn reregister(&self, fd: &RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.get()?.reregister(&mut SourceFd(fd), token, interest)
    }

    fn deregister(&self, fd: &RawFd) -> io::Result<()> {
        self.get()?.deregister(&mut SourceFd(fd))
    }
}

pub struct Io {
    registry: Registration,
    table: SigMap<Descriptor>,
    events: VecDeque<Event>,
    /// Readiness still to process this turn.
    ready: VecDeque<Ready>,
    /// Reads left for the descriptor at the front of `ready`.
    budget: usize,
    /// Descriptors to read again next turn (budget ran out, or resumed).
    carry: Vec<u64>,
    /// Descriptors to close once this turn's readiness is handled: (sig, errno).
    closing: Vec<(u64, i32)>,
    buf: Vec<u8>,
    /// Connections `send_data` queued bytes on during this turn: written together at
    /// the end of the turn (one writev for several sends), see `flush_queued`.
    queued: Vec<u64>,
    /// Acceptors that hit EMFILE: retried at `starved_retry`, not busy-looped.
    starved_acceptors: Vec<u64>,
    /// Fixed when the first acceptor starves; later turns do not postpone it.
    starved_retry: Option<Instant>,
    pub heartbeat: Duration,
    next_heartbeat: Option<Instant>,
    /// No later than the earliest descriptor timeout (activity only postpones
    /// them), so the table is scanned when it passes, not on every turn.
    expiry_hint: Option<Instant>,
    inotify: Option<(u64, Inotify)>,
    /// Connections a listener accepts per readiness (EM's simultaneous accept count).
    pub accepts_per_turn: usize,
}

impl Io {
    pub fn new(registry: Registry) -> Self {
        Io {
            registry: Registration(Some(registry)),
            table: SigMap::default(),
            events: VecDeque::new(),
            ready: VecDeque::new(),
            budget: READS_PER_TURN,
            carry: Vec::new(),
            closing: Vec::new(),
            queued: Vec::new(),
            buf: vec![0; READ_CHUNK],
            starved_acceptors: Vec::new(),
            starved_retry: None,
            heartbeat: Duration::from_secs(2),
            next_heartbeat: None,
            expiry_hint: None,
            inotify: None,
            accepts_per_turn: ACCEPTS_PER_TURN,
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// What `EM.connection_count` reports: descriptors, less internal ones (the
    /// inotify fd, a server's extra listeners).
    pub fn connection_count(&self) -> usize {
        let extra = self.table.values().filter(|d| d.accept_as.is_some()).count();
        self.table.len() - usize::from(self.inotify.is_some()) - extra
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Work that must not wait for the next readiness: the loop then polls without blocking.
    pub fn has_pending(&self) -> bool {
        !self.events.is_empty() || !self.carry.is_empty() || !self.closing.is_empty()
    }

    /// When the loop must wake for timeouts: the earliest expiry among descriptors
    /// with a timeout (so a 0.5 s timeout fires at 0.5 s, as in EM), at most one
    /// heartbeat away; and the starved acceptors' retry.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        let next = match (self.expiry_hint, self.starved_retry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.next_heartbeat = next;
        next
    }

    /// The bytes of the last `Event::Read`.
    pub fn data(&self, len: usize) -> &[u8] {
        &self.buf[..len]
    }

    pub fn get(&self, sig: u64) -> Option<&Descriptor> {
        self.table.get(&sig)
    }

    pub fn get_mut(&mut self, sig: u64) -> Option<&mut Descriptor> {
        self.table.get_mut(&sig)
    }

    /// Takes the readiness of the last poll (and what was carried over).
    pub fn take_ready(&mut self, ready: impl Iterator<Item = Ready>) {
        for sig in self.carry.drain(..) {
            self.ready.push_back(Ready { sig, readable: true, writable: false, closed: false, fresh: false });
        }
        self.ready.extend(ready);
        self.budget = READS_PER_TURN;
    }

    /// Heartbeat: timeouts close their descriptors with ETIMEDOUT; starved acceptors retry.
    pub fn check_timeouts(&mut self, now: Instant) {
        if self.next_heartbeat.is_none_or(|at| now < at) {
            return;
        }
        self.next_heartbeat = None;
        if self.expiry_hint.is_some_and(|at| at <= now) {
            let mut expired = Vec::new();
            let mut earliest: Option<Instant> = None;
            for (sig, d) in &self.table {
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

    /// The next thing to tell Ruby, or None when this turn's I/O is done.
    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if let Some(ready) = self.ready.front().copied() {
                if !self.handle(ready) {
                    self.ready.pop_front();
                    self.budget = READS_PER_TURN;
                }
                continue;
            }
            if let Some((sig, errno)) = self.closing.pop() {
                self.close_now(sig, errno);
                continue;
            }
            return None;
        }
    }

    /// Handles one step of a readiness; true while there is more to do for it.
    fn handle(&mut self, ready: Ready) -> bool {
        let Some(d) = self.table.get(&ready.sig) else { return false };
        match (d.kind, &d.state) {
            (Kind::Acceptor, _) => {
                self.accept(ready.sig);
                false
            }
            (Kind::Inotify, _) => {
                self.file_notices();
                false
            }
            (Kind::Pidfd, _) => {
                self.events.push_back(Event::Notice { sig: ready.sig, what: "exit" });
                self.schedule_close(ready.sig, 0);
                false
            }
            (Kind::Watch, _) => {
                if ready.readable && d.notify_readable {
                    self.events.push_back(Event::NotifyReadable { sig: ready.sig });
                }
                if ready.writable && d.notify_writable {
                    self.events.push_back(Event::NotifyWritable { sig: ready.sig });
                }
                // Re-arm: EM's watch is level-triggered, and epoll reports a still-ready
                // fd again after a modify.
                self.update_interest(ready.sig, true);
                false
            }
            (_, State::Connecting { .. }) => {
                if ready.writable || ready.closed {
                    self.finish_connect(ready.sig);
                }
                false
            }
            _ if d.tls_stepping => false,
            _ if d.tls.as_ref().is_some_and(|t| !t.handshaken()) => {
                self.events.push_back(Event::TlsStep { sig: ready.sig });
                false
            }
            _ => {
                if ready.writable && !self.flush(ready.sig) {
                    return false;
                }
                if (ready.readable || ready.closed) && self.read(ready.sig, ready.fresh) {
                    return true;
                }
                false
            }
        }
    }

    fn finish_connect(&mut self, sig: u64) {
        let Some(d) = self.table.get_mut(&sig) else { return };
        let errno = net::take_socket_error(&SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }));
        if errno == 0 {
            d.state = if d.close_when_drained { State::ClosingAfterWriting } else { State::Open };
            d.last_activity = Instant::now();
            let pending_tls = d.tls_pending.take();
            self.timeouts_changed(sig);
            self.events.push_back(Event::Completed { sig });
            self.update_interest(sig, false);
            match pending_tls {
                Some(params) => {
                    if let Err(e) = self.begin_tls(sig, &params) {
                        let _ = e;
                        self.schedule_close(sig, libc::EPROTO);
                    }
                }
                None => {
                    self.flush(sig);
                }
            }
            return;
        }
        // Try the next resolved address on a fresh socket, under the same signature.
        let State::Connecting { next, bind } = &mut d.state else { return };
        let bind = *bind;
        while !next.is_empty() {
            let addr = next.remove(0);
            if let Ok(socket) = net::start_connect(addr, bind) {
                let rest = std::mem::take(next);
                self.replace_fd(sig, socket.into_raw_fd(), State::Connecting { next: rest, bind });
                return;
            }
        }
        self.schedule_close(sig, errno);
    }

    fn replace_fd(&mut self, sig: u64, fd: RawFd, state: State) {
        if let Some(d) = self.table.get_mut(&sig) {
            let _ = self.registry.deregister(&d.fd);
            if d.owned {
                unsafe { libc::close(d.fd) };
            }
            d.fd = fd;
            d.state = state;
            d.interest = None;
        }
        self.update_interest(sig, false);
    }

    fn accept(&mut self, listener: u64) {
        let Some((fd, server)) = self.table.get(&listener).map(|d| (d.fd, d.accept_as.unwrap_or(listener))) else { return };
        for _ in 0..self.accepts_per_turn.max(1) {
            let client = unsafe { libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) };
            if client < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
                    Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM) => {
                        if !self.starved_acceptors.contains(&listener) {
                            self.starved_acceptors.push(listener);
                        }
                        let retry = self.heartbeat.min(STARVED_RETRY);
                        self.starved_retry.get_or_insert_with(|| Instant::now() + retry);
                    }
                    _ => {}
                }
                return;
            }
            let mut d = Descriptor::new(client, Kind::Stream, State::Open, true);
            d.is_server_side = true;
            let sig = self.insert(d);
            self.events.push_back(Event::Accepted { server, sig });
        }
        // More may be waiting: come back next turn.
        self.carry.push(listener);
    }

    /// One read; true if there may be more to read now. With `fresh` readiness, a
    /// stream socket read shorter than the buffer has emptied it: no second read
    /// just to see EAGAIN.
    fn read(&mut self, sig: u64, fresh: bool) -> bool {
        let Some(d) = self.table.get(&sig) else { return false };
        if d.paused || d.state != State::Open || self.closing.iter().any(|(s, _)| *s == sig) {
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
        if d.tls.is_some() {
            return self.tls_read(sig);
        }
        let (n, peer) = if datagram {
            let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let n = unsafe {
                libc::recvfrom(fd, self.buf.as_mut_ptr().cast(), self.buf.len(), 0, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len)
            };
            let peer = (n >= 0).then(|| unsafe { SockAddr::new(storage, len) }.as_socket()).flatten();
            (n, peer)
        } else {
            (unsafe { libc::read(fd, self.buf.as_mut_ptr().cast(), self.buf.len()) }, None)
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
        let d = self.table.get_mut(&sig).expect("descriptor checked above");
        d.last_activity = Instant::now();
        if peer.is_some() {
            d.last_peer = peer;
        }
        if d.proxy.is_some() {
            self.relay(sig, n);
        } else {
            self.events.push_back(Event::Read { sig, len: n });
        }
        datagram || !fresh || !socket || n == self.buf.len()
    }

    /// One TLS read; true if there may be more plaintext now.
    fn tls_read(&mut self, sig: u64) -> bool {
        let d = self.table.get_mut(&sig).expect("caller checked");
        let tls = d.tls.as_mut().expect("caller checked");
        match tls.read(&mut self.buf) {
            Ok(Progress::Done(n)) => {
                d.last_activity = Instant::now();
                if d.proxy.is_some() {
                    self.relay(sig, n);
                } else {
                    self.events.push_back(Event::Read { sig, len: n });
                }
                true
            }
            Ok(Progress::WantRead) => false,
            Ok(Progress::WantWrite) => {
                d.tls_want_write = true;
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

    /// Starts TLS on an open connection and takes the first handshake step.
    fn begin_tls(&mut self, sig: u64, params: &TlsParams) -> Result<(), TlsError> {
        let d = self.table.get_mut(&sig).expect("caller checked");
        d.tls = Some(Box::new(TlsSession::new(d.fd, params, d.is_server_side, sig)?));
        self.tls_handshake(sig);
        Ok(())
    }

    /// One handshake step in place (the first one, which never asks for
    /// verification: see `TlsStep` for the others).
    fn tls_handshake(&mut self, sig: u64) {
        let Some(mut session) = self.take_tls_step(sig) else { return };
        let progress = session.handshake();
        self.finish_tls_step(sig, session, progress);
    }

    /// Takes a connection's TLS session out for a handshake step, if it still
    /// needs one. Until `finish_tls_step`, the connection holds its sends and
    /// takes no other step.
    pub fn take_tls_step(&mut self, sig: u64) -> Option<Box<TlsSession>> {
        let d = self.table.get_mut(&sig)?;
        if d.tls_stepping || !d.tls.as_ref().is_some_and(|t| !t.handshaken()) {
            return None;
        }
        d.tls_stepping = true;
        d.tls.take()
    }

    /// Puts the session back and acts on the step's outcome (the connection may
    /// have closed or detached meanwhile: the session is then dropped).
    pub fn finish_tls_step(&mut self, sig: u64, session: Box<TlsSession>, progress: io::Result<Progress>) {
        let Some(d) = self.table.get_mut(&sig) else { return };
        d.tls_stepping = false;
        d.tls = Some(session);
        match progress {
            Ok(Progress::Done(_)) => {
                d.tls_want_write = false;
                d.last_activity = Instant::now();
                self.events.push_back(Event::TlsHandshaken { sig });
                self.update_interest(sig, false);
                self.flush(sig);
                // Application data may have arrived with the last handshake flight.
                self.carry.push(sig);
            }
            Ok(Progress::WantRead) => {
                d.tls_want_write = false;
                self.update_interest(sig, false);
            }
            Ok(Progress::WantWrite) => {
                d.tls_want_write = true;
                self.update_interest(sig, false);
            }
            Ok(Progress::Closed) => self.schedule_close(sig, libc::ECONNRESET),
            Err(e) => self.schedule_close(sig, e.raw_os_error().unwrap_or(libc::EPROTO)),
        }
    }

    /// `start_tls`: now on an open connection, or once a pending connect completes.
    pub fn start_tls(&mut self, sig: u64, params: TlsParams) -> Result<(), TlsError> {
        let Some(d) = self.table.get_mut(&sig) else { return Ok(()) };
        if d.kind != Kind::Stream || d.tls.is_some() || d.tls_stepping {
            return Ok(());
        }
        params.check(d.is_server_side)?;
        if d.connecting() {
            d.tls_pending = Some(params);
            return Ok(());
        }
        // Bytes sent before start_tls go out in the clear, ahead of the handshake
        // (STARTTLS); if the socket cannot take them all now, TLS starts once it has.
        if !d.outbound.is_empty() {
            let drained = d.outbound.flush(d.fd).map_err(|e| TlsError::BadParams(e.to_string()))?;
            if !drained {
                d.tls_pending = Some(params);
                self.update_interest(sig, false);
                return Ok(());
            }
        }
        self.begin_tls(sig, &params)
    }

    pub fn tls(&self, sig: u64) -> Option<&TlsSession> {
        self.table.get(&sig).and_then(|d| d.tls.as_deref())
    }

    /// Moves `n` bytes just read on `sig` to its proxy target.
    fn relay(&mut self, sig: u64, n: usize) {
        let Some(Proxy { target, remaining }) = self.table.get_mut(&sig).and_then(|d| d.proxy.take()) else { return };
        let take = if remaining == 0 { n } else { n.min(remaining as usize) };
        let data = self.buf[..take].to_vec();
        self.send(target, &data);
        let d = self.table.get_mut(&sig).expect("proxy source");
        d.proxied_bytes += take as u64;
        if remaining != 0 && take as u64 >= remaining {
            self.events.push_back(Event::ProxyCompleted { sig });
            if take < n {
                // What came past the limit is delivered as ordinary data.
                self.buf.copy_within(take..n, 0);
                self.events.push_back(Event::Read { sig, len: n - take });
            }
            if let Some(t) = self.table.get_mut(&target) {
                t.proxied_from.retain(|s| *s != sig);
            }
        } else {
            d.proxy = Some(Proxy { target, remaining: if remaining == 0 { 0 } else { remaining - take as u64 } });
        }
    }

    /// Writes what it can; false if the descriptor is gone.
    fn flush(&mut self, sig: u64) -> bool {
        let Some(d) = self.table.get_mut(&sig) else { return false };
        if d.tls_stepping || d.paused {
            return true; // after the step, with the session back; or on resume
        }
        let before = d.outbound.len();
        if self.closing.iter().any(|(s, _)| *s == sig) {
            return false; // closing now: what is unsent is dropped, as EM does
        }
        let flushed = match d.tls.as_mut() {
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
                d.tls_want_write = want_write;
                result
            }
            None => d.outbound.flush(d.fd),
        };
        if d.outbound.len() < before {
            d.last_activity = Instant::now(); // get_idle_time counts from the last write too
        }
        if matches!(flushed, Ok(true)) && d.tls.is_none() && d.state == State::Open {
            if let Some(params) = d.tls_pending.take() {
                if self.begin_tls(sig, &params).is_err() {
                    self.schedule_close(sig, libc::EPROTO);
                    return false;
                }
                return true;
            }
        }
        match flushed {
            Ok(true) => {
                if d.state == State::ClosingAfterWriting {
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

    /// Registers, re-registers or deregisters to match what the descriptor needs.
    fn update_interest(&mut self, sig: u64, force: bool) {
        let Some(d) = self.table.get_mut(&sig) else { return };
        let wanted = d.wanted_interest();
        if wanted == d.interest && !force {
            return;
        }
        let token = Token(sig as usize);
        let result = match (d.interest, wanted) {
            (None, Some(w)) => self.registry.register(&d.fd, token, w),
            (Some(_), Some(w)) => self.registry.reregister(&d.fd, token, w),
            (Some(_), None) => self.registry.deregister(&d.fd),
            (None, None) => Ok(()),
        };
        if result.is_ok() {
            d.interest = wanted;
        }
    }

    /// A descriptor's timeouts changed (or it started or finished connecting):
    /// the loop must wake by its new expiry.
    pub fn timeouts_changed(&mut self, sig: u64) {
        if let Some(at) = self.table.get(&sig).and_then(|d| d.expiry()) {
            self.expiry_hint = Some(self.expiry_hint.map_or(at, |h| h.min(at)));
        }
    }

    fn insert(&mut self, d: Descriptor) -> u64 {
        let sig = next_signature();
        let expiry = d.expiry();
        if let Some(at) = expiry {
            self.expiry_hint = Some(self.expiry_hint.map_or(at, |h| h.min(at)));
        }
        self.table.insert(sig, d);
        self.update_interest(sig, false);
        sig
    }

    fn file_notices(&mut self) {
        let Some((_, inotify)) = self.inotify.as_mut() else { return };
        for (sig, what) in inotify.drain() {
            match what {
                Some(what) => self.events.push_back(Event::Notice { sig, what }),
                None => self.events.push_back(Event::Unbound { sig, errno: 0 }),
            }
        }
    }

    // ---- commands from Ruby -------------------------------------------------------

    /// `watch_filename`: a new watch signature for `path`.
    pub fn watch_file(&mut self, path: &str) -> io::Result<u64> {
        if self.inotify.is_none() {
            let inotify = Inotify::new()?;
            let sig = self.insert(Descriptor::new(inotify.fd, Kind::Inotify, State::Open, false));
            self.inotify = Some((sig, inotify));
        }
        let sig = next_signature();
        self.inotify.as_mut().expect("created above").1.add(path, sig)?;
        Ok(sig)
    }

    /// `unwatch_filename`: false if `sig` is not a live file watch. The Ruby layer
    /// runs the watch's unbind at once.
    pub fn unwatch_file(&mut self, sig: u64) -> bool {
        self.inotify.as_mut().is_some_and(|(_, ino)| ino.remove(sig))
    }

    pub fn watch_pid(&mut self, pid: i32) -> io::Result<u64> {
        let fd = watches::pidfd_open(pid)?;
        Ok(self.insert(Descriptor::new(fd, Kind::Pidfd, State::Open, true)))
    }

    /// `popen`: the child's stdio as a stream connection; returns (signature, pid).
    pub fn popen(&mut self, argv: &[String]) -> io::Result<(u64, u32)> {
        let (fd, pid) = watches::spawn(argv)?;
        Ok((self.insert(Descriptor::new(fd, Kind::Stream, State::Open, true)), pid))
    }

    pub fn connect(&mut self, host: &str, port: u16, bind: Option<(&str, u16)>) -> Result<u64, ConnectError> {
        let bind = match bind {
            Some((h, p)) => Some(*net::resolve(h, p).map_err(ConnectError::BindResolve)?.first().expect("resolve returns one")),
            None => None,
        };
        let mut addrs = net::resolve(host, port).map_err(ConnectError::Resolve)?;
        let mut last_err = None;
        while !addrs.is_empty() {
            let addr = addrs.remove(0);
            match net::start_connect(addr, bind) {
                Ok(socket) => {
                    let state = State::Connecting { next: addrs, bind };
                    return Ok(self.insert(Descriptor::new(socket.into_raw_fd(), Kind::Stream, state, true)));
                }
                Err(e) if bind.is_some() && matches!(e.raw_os_error(), Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE) | Some(libc::EACCES)) => {
                    return Err(ConnectError::Bind(e))
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(ConnectError::Other(last_err.unwrap_or_else(|| io::Error::other("connect failed"))))
    }

    pub fn connect_unix(&mut self, path: &Path) -> io::Result<u64> {
        let socket = net::start_connect_unix(path)?;
        let state = State::Connecting { next: Vec::new(), bind: None };
        Ok(self.insert(Descriptor::new(socket.into_raw_fd(), Kind::Stream, state, true)))
    }

    /// Listens on host:port. A name that resolves to both families (e.g. ::1 and
    /// 127.0.0.1) gets a listener per family, all accepting as one server.
    pub fn listen(&mut self, host: &str, port: u16) -> io::Result<u64> {
        let addrs = net::resolve(host, port)?;
        let first = addrs[0];
        let socket = net::listen_tcp(first)?;
        let sig = self.insert(Descriptor::new(socket.into_raw_fd(), Kind::Acceptor, State::Open, true));
        // Port 0: the others take the port the first one got.
        let port = SockRef::from(&unsafe { BorrowedFd::borrow_raw(self.table[&sig].fd) })
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map_or(port, |a| a.port());
        for addr in addrs.iter().skip(1).filter(|a| a.is_ipv4() != first.is_ipv4()).take(1) {
            let mut addr = *addr;
            addr.set_port(port);
            if let Ok(extra) = net::listen_tcp(addr) {
                let mut d = Descriptor::new(extra.into_raw_fd(), Kind::Acceptor, State::Open, true);
                d.accept_as = Some(sig);
                let extra_sig = self.insert(d);
                self.table.get_mut(&sig).expect("just inserted").sibling_listeners.push(extra_sig);
            }
        }
        Ok(sig)
    }

    pub fn listen_unix(&mut self, path: &Path) -> io::Result<u64> {
        let socket = net::listen_unix(path)?;
        Ok(self.insert(Descriptor::new(socket.into_raw_fd(), Kind::Acceptor, State::Open, true)))
    }

    pub fn open_udp(&mut self, host: &str, port: u16) -> io::Result<u64> {
        let addr = *net::resolve(host, port)?.first().expect("resolve returns one");
        let socket = net::udp_socket(addr)?;
        Ok(self.insert(Descriptor::new(socket.into_raw_fd(), Kind::Datagram, State::Open, true)))
    }

    /// Adopts an fd the caller keeps owning: a stream (reads and writes), a watched
    /// fd (notifications only) or a listening socket.
    pub fn attach(&mut self, fd: RawFd, kind: Kind) -> io::Result<u64> {
        if unsafe { libc::fcntl(fd, libc::F_GETFL) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if kind != Kind::Watch {
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        }
        Ok(self.insert(Descriptor::new(fd, kind, State::Open, false)))
    }

    /// Forgets a descriptor without closing its fd, and returns the fd; its unbind
    /// follows, as in EM.
    pub fn detach(&mut self, sig: u64) -> Option<RawFd> {
        let mut d = self.table.remove(&sig)?;
        if d.interest.is_some() {
            let _ = self.registry.deregister(&d.fd);
        }
        d.owned = false;
        self.events.push_back(Event::Unbound { sig, errno: 0 });
        Some(d.fd)
    }

    /// Queues bytes and writes what the socket takes now. Returns the bytes accepted
    /// (0 for an unknown or closing descriptor: nothing is written after close).
    pub fn send(&mut self, sig: u64, data: &[u8]) -> i64 {
        let Some(d) = self.table.get_mut(&sig) else { return -1 };
        if d.kind == Kind::Datagram {
            // UDP send_data answers the sender of the last datagram.
            let Some(peer) = d.last_peer else { return 0 };
            let fd = d.fd;
            return SockRef::from(&unsafe { BorrowedFd::borrow_raw(fd) }).send_to(data, &peer.into()).map_or(0, |n| n as i64);
        }
        if d.kind != Kind::Stream || d.state == State::ClosingAfterWriting || d.close_when_drained || self.closing.iter().any(|(s, _)| *s == sig) {
            return 0;
        }
        let was_empty = d.outbound.is_empty();
        d.outbound.push(data);
        if d.state == State::Open && !d.tls_stepping && d.tls.as_ref().is_none_or(|t| t.handshaken()) {
            // Written at the end of the turn. Bytes already waiting are either queued
            // this turn too or waiting for writability: either way nothing to change.
            if was_empty {
                self.queued.push(sig);
            }
        } else {
            self.update_interest(sig, false);
        }
        data.len() as i64
    }

    /// Writes what `send_data` queued since the last call (the glue calls this at the
    /// end of every loop turn): without waiting for writability, and with all of a
    /// turn's sends to a connection in one system call.
    pub fn flush_queued(&mut self) {
        while let Some(sig) = self.queued.pop() {
            self.flush(sig);
        }
    }

    pub fn send_datagram(&mut self, sig: u64, data: &[u8], host: &str, port: u16) -> io::Result<usize> {
        let Some(d) = self.table.get(&sig) else { return Ok(0) };
        let addr = *net::resolve(host, port)?.first().expect("resolve returns one");
        let n = SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }).send_to(data, &addr.into())?;
        Ok(n)
    }

    /// Closes now (unbind this turn) or after the outbound buffer drains.
    pub fn close(&mut self, sig: u64, after_writing: bool) {
        let Some(d) = self.table.get_mut(&sig) else { return };
        if after_writing && (d.state == State::ClosingAfterWriting || d.close_when_drained) {
            // Already closing after writing: a second call changes nothing (EM).
        } else if after_writing && d.kind == Kind::Stream && d.connecting() {
            // Whatever was queued goes out once the connect completes.
            d.close_when_drained = true;
        } else if after_writing && d.kind == Kind::Stream && !d.outbound.is_empty() && d.state == State::Open {
            d.state = State::ClosingAfterWriting;
            self.update_interest(sig, false);
        } else {
            self.schedule_close(sig, 0);
        }
    }

    fn schedule_close(&mut self, sig: u64, errno: i32) {
        if !self.closing.iter().any(|(s, _)| *s == sig) {
            self.closing.push((sig, errno));
        }
    }

    fn close_now(&mut self, sig: u64, errno: i32) {
        let Some(mut d) = self.table.remove(&sig) else { return };
        if d.interest.is_some() {
            let _ = self.registry.deregister(&d.fd);
        }
        if let Some(tls) = d.tls.as_mut().filter(|t| t.handshaken()) {
            tls.shutdown();
        }
        if d.kind == Kind::Stream && d.owned {
            discard_unread(d.fd);
        }
        for sibling in &d.sibling_listeners {
            if let Some(mut s) = self.table.remove(sibling) {
                let _ = self.registry.deregister(&s.fd);
                s.sibling_listeners.clear();
            }
        }
        if d.kind == Kind::Acceptor && !d.owned {
            // An attached listening socket stays open for its owner, but stops
            // listening (later connects are refused, as after EM's close).
            unsafe { libc::shutdown(d.fd, libc::SHUT_RDWR) };
        }
        self.events.push_back(Event::Unbound { sig, errno });
        for source in &d.proxied_from {
            if let Some(s) = self.table.get_mut(source) {
                s.proxy = None;
                self.events.push_back(Event::ProxyTargetUnbound { sig: *source });
            }
        }
        if let Some(Proxy { target, .. }) = &d.proxy {
            if let Some(t) = self.table.get_mut(target) {
                t.proxied_from.retain(|s| *s != sig);
            }
        }
    }

    /// Closes everything (the reactor is shutting down): one Unbound each.
    pub fn close_all(&mut self) {
        if let Some((sig, inotify)) = self.inotify.take() {
            self.table.remove(&sig).map(|mut d| {
                let _ = self.registry.deregister(&d.fd);
                d.owned = false;
            });
            let watches: Vec<u64> = inotify_sigs(&inotify);
            drop(inotify);
            for sig in watches {
                self.events.push_back(Event::Unbound { sig, errno: 0 });
            }
        }
        let sigs: Vec<u64> = self.table.keys().copied().collect();
        self.ready.clear();
        self.carry.clear();
        for sig in sigs {
            self.close_now(sig, 0);
        }
    }

    /// The end of the reactor: closes whatever the last unbinds opened, then lets go
    /// of the poll set, so the process holds no descriptor of this run.
    pub fn release(&mut self) {
        self.close_all();
        self.events.clear();
        self.registry = Registration(None);
    }

    /// Connections whose close is scheduled and not yet done (EM.num_close_scheduled).
    pub fn close_scheduled(&self) -> usize {
        let after_writing = self.table.iter().filter(|(sig, d)| {
            (d.state == State::ClosingAfterWriting || d.close_when_drained) && !self.closing.iter().any(|(s, _)| s == *sig)
        });
        self.closing.len() + after_writing.count()
    }

    pub fn set_paused(&mut self, sig: u64, paused: bool) -> bool {
        let Some(d) = self.table.get_mut(&sig) else { return false };
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

    pub fn set_notify(&mut self, sig: u64, readable: Option<bool>, writable: Option<bool>) {
        let Some(d) = self.table.get_mut(&sig) else { return };
        if let Some(r) = readable {
            d.notify_readable = r;
        }
        if let Some(w) = writable {
            d.notify_writable = w;
        }
        self.update_interest(sig, true);
    }

    pub fn start_proxy(&mut self, from: u64, to: u64, length: u64) -> bool {
        if !self.table.contains_key(&to) {
            return false;
        }
        let Some(d) = self.table.get_mut(&from) else { return false };
        d.proxy = Some(Proxy { target: to, remaining: length });
        d.proxied_bytes = 0;
        self.table.get_mut(&to).expect("checked").proxied_from.push(from);
        true
    }

    pub fn stop_proxy(&mut self, from: u64) {
        let Some(d) = self.table.get_mut(&from) else { return };
        if let Some(Proxy { target, .. }) = d.proxy.take() {
            if let Some(t) = self.table.get_mut(&target) {
                t.proxied_from.retain(|s| *s != from);
            }
        }
    }

    pub fn peername(&self, sig: u64) -> Option<Vec<u8>> {
        let d = self.table.get(&sig)?;
        if let Some(peer) = d.last_peer {
            return Some(net::sockaddr_bytes(&peer.into()));
        }
        let addr = SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }).peer_addr().ok()?;
        Some(net::sockaddr_bytes(&addr))
    }

    pub fn sockname(&self, sig: u64) -> Option<Vec<u8>> {
        let d = self.table.get(&sig)?;
        let addr = SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }).local_addr().ok()?;
        Some(net::sockaddr_bytes(&addr))
    }

    pub fn fd(&self, sig: u64) -> Option<RawFd> {
        self.table.get(&sig).map(|d| d.fd)
    }

    /// getsockopt as an int (what EM's get_sock_opt callers read).
    pub fn get_sock_opt(&self, sig: u64, level: i32, opt: i32) -> io::Result<Vec<u8>> {
        let fd = self.fd(sig).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        let mut buf = [0u8; 256];
        let mut len = buf.len() as libc::socklen_t;
        if unsafe { libc::getsockopt(fd, level, opt, buf.as_mut_ptr().cast(), &mut len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(buf[..len as usize].to_vec())
    }

    pub fn set_sock_opt(&self, sig: u64, level: i32, opt: i32, value: &[u8]) -> io::Result<()> {
        let fd = self.fd(sig).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        if unsafe { libc::setsockopt(fd, level, opt, value.as_ptr().cast(), value.len() as libc::socklen_t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// TCP keepalive: idle/interval in seconds, probe count (0 = leave the default).
    pub fn set_keepalive(&self, sig: u64, on: bool, idle: u32, interval: u32, count: u32) -> io::Result<()> {
        let fd = self.fd(sig).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = SockRef::from(&borrowed);
        socket.set_keepalive(on)?;
        if on {
            let mut params = socket2::TcpKeepalive::new();
            if idle > 0 {
                params = params.with_time(Duration::from_secs(idle.into()));
            }
            if interval > 0 {
                params = params.with_interval(Duration::from_secs(interval.into()));
            }
            if count > 0 {
                params = params.with_retries(count);
            }
            socket.set_tcp_keepalive(&params)?;
        }
        Ok(())
    }
}

fn inotify_sigs(inotify: &Inotify) -> Vec<u64> {
    inotify.signatures()
}

/// Reads and drops what is waiting (bounded): closing a socket with unread input
/// makes the kernel reset the connection, and the peer then loses data still in
/// flight to it (e.g. the TLS 1.3 session tickets a client never reads).
fn discard_unread(fd: RawFd) {
    let mut scratch = [0u8; 16 * 1024];
    for _ in 0..16 {
        let n = unsafe { libc::recv(fd, scratch.as_mut_ptr().cast(), scratch.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            return;
        }
    }
}
