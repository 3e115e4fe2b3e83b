//! One entry of the descriptor table: a socket, pipe or watched fd, with its
//! state, unsent bytes and timeouts.
use super::outbound::Outbound;
use super::tls::{TlsParams, TlsSession};
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
    Connecting { next: Vec<SocketAddr>, bind: Option<SocketAddr> },
    Open,
    /// Reads stop; the descriptor closes once the outbound buffer drains.
    ClosingAfterWriting,
}

pub struct Proxy {
    pub target: u64,
    /// Bytes still to relay before `proxy_completed`; 0 = unlimited.
    pub remaining: u64,
}

pub struct Descriptor {
    pub fd: RawFd,
    /// Whether em_rust closes the fd (not for `EM.watch` or attached IO).
    pub owned: bool,
    pub kind: Kind,
    pub state: State,
    pub outbound: Outbound,
    pub interest: Option<Interest>,
    pub paused: bool,
    pub notify_readable: bool,
    pub notify_writable: bool,
    pub inactivity_timeout: Option<Duration>,
    pub connect_timeout: Duration,
    pub last_activity: Instant,
    pub created: Instant,
    pub proxy: Option<Proxy>,
    pub proxied_bytes: u64,
    /// Sources proxying into this descriptor (told when it goes away).
    pub proxied_from: Vec<u64>,
    /// The sender of the last datagram (UDP `get_peername`).
    pub last_peer: Option<SocketAddr>,
    /// The server this connection was accepted from.
    pub is_server_side: bool,
    /// `close_connection_after_writing` before the connect completed.
    pub close_when_drained: bool,
    /// A server on a name with several addresses listens on each: the extra
    /// listeners accept on behalf of the first (`accept_as`), which lists them.
    pub accept_as: Option<u64>,
    pub sibling_listeners: Vec<u64>,
    pub tls: Option<Box<TlsSession>>,
    /// `start_tls` before the connect completed: begins once it has.
    pub tls_pending: Option<TlsParams>,
    /// The TLS session needs the socket writable (handshake or a record to finish).
    pub tls_want_write: bool,
    /// The session is out of the table for a handshake step (see `Io::take_tls_step`),
    /// so that ssl_verify_peer can use the connection meanwhile.
    pub tls_stepping: bool,
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
            is_server_side: false,
            close_when_drained: false,
            accept_as: None,
            sibling_listeners: Vec::new(),
            tls: None,
            tls_pending: None,
            tls_want_write: false,
            tls_stepping: false,
        }
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
                State::Connecting { .. } => (false, true),
                _ if self.tls_stepping || self.tls.as_ref().is_some_and(|t| !t.handshaken()) => (true, self.tls_want_write),
                State::Open => (!self.paused, (!self.paused && !self.outbound.is_empty()) || self.tls_want_write),
                State::ClosingAfterWriting => (self.tls.is_some(), true),
            },
        };
        match (read, write) {
            (true, true) => Some(Interest::READABLE | Interest::WRITABLE),
            (true, false) => Some(Interest::READABLE),
            (false, true) => Some(Interest::WRITABLE),
            (false, false) => None,
        }
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
            unsafe { libc::close(self.fd) };
        }
    }
}
