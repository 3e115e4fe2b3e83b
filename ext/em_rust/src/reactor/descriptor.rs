//! One entry of the descriptor table: a socket, pipe or watched fd, with its
//! state, unsent bytes and timeouts.
use super::outbound::Outbound;
use super::tls::TlsParams;
use super::tls_session::TlsSession;
use mio::Interest;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// TCP or Unix stream, pipe, attached fd: bytes both ways.
    Stream,
    /// A listening socket.
    Acceptor,
    /// UDP.
    Datagram,
    /// `EM.watch`: readiness notifications only; em_rust never reads or writes it.
    Watch,
    /// The machine's inotify fd (file watches).
    Inotify,
    /// `watch_process`: a pidfd, readable when the process exits.
    Pidfd,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// A non-blocking connect is in flight; the other addresses to try follow.
    Connecting {
        next: Vec<SocketAddr>,
        bind: Option<SocketAddr>,
    },
    Open,
}

pub struct Proxy {
    pub(super) target: u64,
    /// Bytes still to relay before `proxy_completed`; 0 = unlimited.
    pub(super) remaining: u64,
}

pub struct Descriptor {
    pub(super) fd: RawFd,
    /// Whether em_rust closes the fd (not for `EM.watch` or attached IO).
    pub(super) owned: bool,
    pub(super) kind: Kind,
    pub(super) state: State,
    pub(super) outbound: Outbound,
    pub(super) interest: Option<Interest>,
    pub(super) paused: bool,
    pub(super) notify_readable: bool,
    pub(super) notify_writable: bool,
    pub(super) inactivity_timeout: Option<Duration>,
    pub(super) connect_timeout: Duration,
    pub(super) last_activity: Instant,
    pub(super) created: Instant,
    pub(super) proxy: Option<Proxy>,
    pub(super) proxied_bytes: u64,
    /// Sources proxying into this descriptor (told when it goes away).
    pub(super) proxied_from: Vec<u64>,
    /// The sender of the last datagram (UDP `get_peername`).
    pub(super) last_peer: Option<SocketAddr>,
    /// A connected socket's peer (`get_peername`) once asked: it cannot change,
    /// and servers ask on every request (thin's REMOTE_ADDR).
    pub(super) peer: Option<Box<socket2::SockAddr>>,
    /// Accepted by a listener (the server end of a connection: TLS takes the server role).
    pub(super) is_server_side: bool,
    /// `close_connection_after_writing`: reads stop, and the descriptor closes once
    /// the outbound buffer drains (after the connect, if one is in flight).
    pub(super) close_after_writing: bool,
    /// Its close is queued for the end of this turn's readiness (`Table::closing`).
    pub(super) closing: bool,
    /// A newer descriptor holds its fd number (an fd we do not own, closed behind
    /// our back and reused, or attached twice): no poll operation on it any more.
    pub(super) stale: bool,
    /// A server on a name with several addresses listens on each: the extra
    /// listeners accept on behalf of the first (`accept_as`), which lists them.
    pub(super) accept_as: Option<u64>,
    pub(super) sibling_listeners: Vec<u64>,
    pub(super) tls: Tls,
}

/// A connection's TLS, one state at a time.
pub enum Tls {
    Off,
    /// `start_tls` before the connect completed (or before the cleartext sent ahead
    /// of it drained): begins then.
    Pending(Box<TlsParams>),
    /// Handshaking (`session.handshaken()` false) or up; `want_write`: the session
    /// needs the socket writable (a handshake flight or a record to finish).
    On {
        session: Box<TlsSession>,
        want_write: bool,
    },
    /// The session is out of the table for a handshake step (`Table::take_tls_step`),
    /// so that ssl_verify_peer can use the connection meanwhile.
    Stepping,
}

impl Tls {
    pub fn session(&self) -> Option<&TlsSession> {
        match self {
            Tls::On { session, .. } => Some(session),
            _ => None,
        }
    }

    pub fn session_mut(&mut self) -> Option<&mut TlsSession> {
        match self {
            Tls::On { session, .. } => Some(session),
            _ => None,
        }
    }

    pub fn is_stepping(&self) -> bool {
        matches!(self, Tls::Stepping)
    }

    /// A handshake is under way (a step may be out).
    pub fn handshaking(&self) -> bool {
        match self {
            Tls::On { session, .. } => !session.handshaken(),
            Tls::Stepping => true,
            _ => false,
        }
    }

    pub fn want_write(&self) -> bool {
        matches!(self, Tls::On { want_write: true, .. })
    }

    pub fn set_want_write(&mut self, wanted: bool) {
        if let Tls::On { want_write, .. } = self {
            *want_write = wanted;
        }
    }

    /// The parameters of a pending start_tls, leaving Off.
    pub fn take_pending(&mut self) -> Option<TlsParams> {
        match std::mem::replace(self, Tls::Off) {
            Tls::Pending(params) => Some(*params),
            other => {
                *self = other;
                None
            }
        }
    }
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

impl Descriptor {
    pub fn new(fd: RawFd, kind: Kind, state: State, owned: bool) -> Self {
        let now = Instant::now();
        Descriptor {
            fd,
            owned,
            kind,
            state,
            outbound: Outbound::default(),
            interest: None,
            paused: false,
            notify_readable: false,
            notify_writable: false,
            inactivity_timeout: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            last_activity: now,
            created: now,
            proxy: None,
            proxied_bytes: 0,
            proxied_from: Vec::new(),
            last_peer: None,
            peer: None,
            is_server_side: false,
            close_after_writing: false,
            closing: false,
            stale: false,
            accept_as: None,
            sibling_listeners: Vec::new(),
            tls: Tls::Off,
        }
    }

    // What the glue reads (the fields are the reactor's own).
    pub fn paused(&self) -> bool {
        self.paused
    }

    pub fn outbound_len(&self) -> usize {
        self.outbound.len()
    }

    pub fn inactivity_timeout(&self) -> Option<Duration> {
        self.inactivity_timeout
    }

    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// Time since its last read or write.
    pub fn idle_for(&self) -> Duration {
        self.last_activity.elapsed()
    }

    pub fn notify_readable(&self) -> bool {
        self.notify_readable
    }

    pub fn notify_writable(&self) -> bool {
        self.notify_writable
    }

    pub fn proxied_bytes(&self) -> u64 {
        self.proxied_bytes
    }

    pub fn connecting(&self) -> bool {
        matches!(self.state, State::Connecting { .. })
    }

    /// The readiness this descriptor needs now: writable only while it has unsent
    /// bytes (or a connect in flight), readable unless paused or draining to close.
    pub fn wanted_interest(&self) -> Option<Interest> {
        let (read, write) = match self.kind {
            Kind::Acceptor | Kind::Inotify | Kind::Pidfd => (true, false),
            Kind::Watch => (self.notify_readable, self.notify_writable),
            Kind::Datagram => (!self.paused, !self.outbound.is_empty()),
            Kind::Stream => match self.state {
                // Readable too: the interest it will keep once connected.
                State::Connecting { .. } => (true, true),
                _ if self.tls.handshaking() => (true, self.tls.want_write()),
                State::Open if self.close_after_writing => (self.tls.session().is_some(), true),
                State::Open => (!self.paused, (!self.paused && !self.outbound.is_empty()) || self.tls.want_write()),
            },
        };
        match (read, write) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
    }

    /// Whether the registered interest may stay as it is although `wanted` differs:
    /// a plain stream keeps a writable interest it no longer needs. The poll set is
    /// edge-triggered, so that costs an event only when a full send buffer drains,
    /// and it saves an epoll_ctl each time the outbound buffer empties and fills
    /// again, and after a connect (registered readable and writable at once).
    pub fn keeps_interest(&self, wanted: Option<Interest>) -> bool {
        let (Some(have), Some(wanted)) = (self.interest, wanted) else { return false };
        self.kind == Kind::Stream
            && matches!(self.tls, Tls::Off)
            && have.is_writable()
            && have.is_readable() == wanted.is_readable()
    }

    /// When its pending-connect or inactivity timeout runs out, if it has one.
    pub fn expiry(&self) -> Option<Instant> {
        if self.connecting() {
            return Some(self.created + self.connect_timeout);
        }
        self.inactivity_timeout.map(|t| self.last_activity + t)
    }

    /// Past its pending-connect or inactivity timeout at `now`?
    pub fn timed_out(&self, now: Instant) -> bool {
        if self.connecting() {
            return now.duration_since(self.created) >= self.connect_timeout;
        }
        self.inactivity_timeout.is_some_and(|t| now.duration_since(self.last_activity) >= t)
    }
}

impl Drop for Descriptor {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: an owned fd is closed only here, once (replace_fd closes the old one before swapping in the new).
            unsafe { libc::close(self.fd) };
        }
    }
}
