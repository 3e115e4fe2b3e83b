//! The descriptor table and its event pump: readiness goes in (`take_ready`), one
//! `Event` at a time comes out (`next_event`), each kind handled by the file for its
//! concern (open.rs, stream.rs, tls_steps.rs, close.rs, timeouts.rs). The glue calls
//! Ruby for each event and never holds the table borrowed across that call.
use super::descriptor::{Descriptor, Kind, State};
use super::poller::Ready;
use super::registration::Registration;
use super::sig_map::SigMap;
use super::signature::next_signature;
use super::watches::Inotify;
use mio::{Registry, Token};
use std::collections::{HashMap, VecDeque};
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Bytes read per `read` call, and reads per descriptor per turn before others get
/// a go (fairness); a descriptor cut short is read again next turn.
pub const READ_CHUNK: usize = 64 * 1024;
pub(super) const READS_PER_TURN: usize = 16;
/// Accepts per readiness of a listener unless `set_simultaneous_accept_count` says otherwise.
const ACCEPTS_PER_TURN: usize = 256;

/// A buffer the caller lends for the next stream read (`Reactor::next_lending`). A
/// read that uses it is copied once, by the kernel, into memory the caller keeps
/// (the glue: a new Ruby String's), and its event says `lent`.
pub type Lend<'a> = Option<&'a mut [u8]>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `len` bytes arrived: at the start of the lent buffer if `lent`, else in
    /// `Table::data()`.
    Read {
        sig: u64,
        len: usize,
        lent: bool,
    },
    Completed {
        sig: u64,
    },
    Accepted {
        server: u64,
        sig: u64,
    },
    /// Closed; `errno` is the reason (0 for a plain close or EOF).
    Unbound {
        sig: u64,
        errno: i32,
    },
    /// A watch saw something: delivered as `receive_data(what)` (EM's protocol for
    /// FileWatch and ProcessWatch).
    Notice {
        sig: u64,
        what: &'static str,
    },
    NotifyReadable {
        sig: u64,
    },
    NotifyWritable {
        sig: u64,
    },
    /// The TLS handshake finished (ssl_verify_peer / ssl_handshake_completed follow).
    TlsHandshaken {
        sig: u64,
    },
    /// The handshake can advance: for the glue, not for Ruby. It takes the step
    /// outside the table (`take_tls_step`, then `finish_tls_step`) because the
    /// step may ask ssl_verify_peer, which may use the table.
    TlsStep {
        sig: u64,
    },
    ProxyTargetUnbound {
        sig: u64,
    },
    ProxyCompleted {
        sig: u64,
    },
}

pub struct Table {
    pub(super) registry: Registration,
    pub(super) entries: SigMap<Descriptor>,
    pub(super) events: VecDeque<Event>,
    /// Readiness still to process this turn.
    pub(super) ready: VecDeque<Ready>,
    /// Reads left for the descriptor at the front of `ready`.
    pub(super) budget: usize,
    /// Descriptors to read again next turn (budget ran out, or resumed).
    pub(super) carry: Vec<u64>,
    /// Descriptors to close once this turn's readiness is handled: (sig, errno).
    pub(super) closing: Vec<(u64, i32)>,
    pub(super) buf: Vec<u8>,
    /// Connections `send_data` queued bytes on during this turn: written together at
    /// the start of the next one, before its wait (one writev for several sends),
    /// see `flush_queued`.
    pub(super) queued: Vec<u64>,
    /// Acceptors that hit EMFILE: retried at `starved_retry`, not busy-looped.
    pub(super) starved_acceptors: Vec<u64>,
    /// Fixed when the first acceptor starves; later turns do not postpone it.
    pub(super) starved_retry: Option<Instant>,
    /// EM's heartbeat interval. It only caps the starved acceptors' retry: timeouts
    /// are checked at their own expiry (`next_check`).
    pub heartbeat: Duration,
    /// When `check_timeouts` next has work, as `next_check` last computed it.
    pub(super) check_at: Option<Instant>,
    /// No later than the earliest descriptor timeout (activity only postpones
    /// them), so the table is scanned when it passes, not on every turn.
    pub(super) expiry_hint: Option<Instant>,
    pub(super) inotify: Option<(u64, Inotify)>,
    /// Connections a listener accepts per readiness (EM's simultaneous accept count).
    pub accepts_per_turn: usize,
    /// The newest descriptor on each fd number (`claim_fd`).
    pub(super) holders: HashMap<RawFd, u64>,
}

impl Table {
    pub fn new(registry: Registry) -> Self {
        Table {
            registry: Registration::new(registry),
            entries: SigMap::default(),
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
            check_at: None,
            expiry_hint: None,
            inotify: None,
            accepts_per_turn: ACCEPTS_PER_TURN,
            holders: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// What `EM.connection_count` reports: descriptors, less internal ones (the
    /// inotify fd, a server's extra listeners).
    pub fn connection_count(&self) -> usize {
        let extra = self.entries.values().filter(|d| d.accept_as.is_some()).count();
        self.entries.len() - usize::from(self.inotify.is_some()) - extra
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Work that must not wait for the next readiness: the loop then polls without blocking.
    pub fn has_pending(&self) -> bool {
        !self.events.is_empty() || !self.carry.is_empty() || !self.closing.is_empty()
    }

    /// The bytes of the last `Event::Read`.
    pub fn data(&self, len: usize) -> &[u8] {
        &self.buf[..len]
    }

    pub fn get(&self, sig: u64) -> Option<&Descriptor> {
        self.entries.get(&sig)
    }

    pub fn get_mut(&mut self, sig: u64) -> Option<&mut Descriptor> {
        self.entries.get_mut(&sig)
    }

    /// Takes the readiness of the last poll (and what was carried over).
    pub fn take_ready(&mut self, ready: impl Iterator<Item = Ready>) {
        for sig in self.carry.drain(..) {
            self.ready.push_back(Ready { sig, readable: true, writable: false, closed: false, fresh: false });
        }
        self.ready.extend(ready);
        self.budget = READS_PER_TURN;
    }

    /// The next thing to tell Ruby, or None when this turn's I/O is done. A stream
    /// read may use (and then take) `lend`.
    pub fn next_event(&mut self, lend: &mut Lend) -> Option<Event> {
        loop {
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if let Some(ready) = self.ready.front().copied() {
                if !self.handle(ready, lend) {
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
    pub(super) fn handle(&mut self, ready: Ready, lend: &mut Lend) -> bool {
        let Some(d) = self.entries.get(&ready.sig) else { return false };
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
            _ if d.tls.is_stepping() => false,
            _ if d.tls.handshaking() => {
                self.events.push_back(Event::TlsStep { sig: ready.sig });
                false
            }
            _ => {
                if ready.writable && !self.flush(ready.sig) {
                    return false;
                }
                if (ready.readable || ready.closed) && self.read(ready.sig, ready.fresh, lend) {
                    return true;
                }
                false
            }
        }
    }

    /// Registers, re-registers or deregisters to match what the descriptor needs.
    pub(super) fn update_interest(&mut self, sig: u64, force: bool) {
        let Some(d) = self.entries.get(&sig) else { return };
        let wanted = d.wanted_interest();
        if (wanted == d.interest || d.keeps_interest(wanted)) && !force {
            return;
        }
        if d.stale {
            return;
        }
        let Some(d) = self.entries.get_mut(&sig) else { return };
        let token = Token(sig as usize);
        let result = match (d.interest, wanted) {
            // EEXIST: the fd's file is still registered by the stale descriptor
            // this one took it from (the same file attached twice): take it over.
            (None, Some(w)) => self.registry.register(&d.fd, token, w).or_else(|e| match e.raw_os_error() {
                Some(libc::EEXIST) => self.registry.reregister(&d.fd, token, w),
                _ => Err(e),
            }),
            (Some(_), Some(w)) => self.registry.reregister(&d.fd, token, w),
            (Some(_), None) => self.registry.deregister(&d.fd),
            (None, None) => Ok(()),
        };
        if result.is_ok() {
            d.interest = wanted;
        }
    }

    /// `sig` now holds `fd`. A descriptor that held the number before and is still
    /// here is one we do not own whose fd was closed behind our back and reused (or
    /// the same fd attached again): it goes stale, its registration counted gone, so
    /// it never changes the poll set entry of the number's new holder.
    pub(super) fn claim_fd(&mut self, sig: u64, fd: RawFd) {
        let Some(old) = self.holders.insert(fd, sig).filter(|&old| old != sig) else { return };
        if let Some(d) = self.entries.get_mut(&old) {
            d.stale = true;
            d.interest = None;
        }
    }

    pub(super) fn insert(&mut self, d: Descriptor) -> u64 {
        let sig = next_signature();
        self.claim_fd(sig, d.fd);
        let expiry = d.expiry();
        if let Some(at) = expiry {
            self.expiry_hint = Some(self.expiry_hint.map_or(at, |h| h.min(at)));
        }
        self.entries.insert(sig, d);
        self.update_interest(sig, false);
        sig
    }

    pub fn set_notify(&mut self, sig: u64, readable: Option<bool>, writable: Option<bool>) {
        let Some(d) = self.entries.get_mut(&sig) else { return };
        if let Some(r) = readable {
            d.notify_readable = r;
        }
        if let Some(w) = writable {
            d.notify_writable = w;
        }
        self.update_interest(sig, true);
    }
}
