//! Opening descriptors: connects (with address fallback), listeners and
//! accepts, UDP, attached and watched fds, file and process watches, popen.
use super::descriptor::{Descriptor, Kind, State};
use super::net;
use super::signature::next_signature;
use super::table::{Event, Table};
use super::timeouts::STARVED_RETRY;
use super::watches::{self, Inotify};
use socket2::SockRef;
use std::io;
use std::os::fd::{BorrowedFd, IntoRawFd, RawFd};
use std::path::Path;
use std::time::Instant;

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

impl Table {
    pub(super) fn finish_connect(&mut self, sig: u64) {
        let Some(d) = self.entries.get_mut(&sig) else { return };
        // SAFETY: `d.fd` stays open while `d` is in the table (only its Drop closes it); borrowed for this statement.
        let errno = net::take_socket_error(&SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }));
        if errno == 0 {
            d.state = State::Open;
            d.last_activity = Instant::now();
            let pending_tls = d.tls.take_pending();
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

    pub(super) fn replace_fd(&mut self, sig: u64, fd: RawFd, state: State) {
        if let Some(d) = self.entries.get_mut(&sig) {
            let _ = self.registry.deregister(&d.fd);
            if d.owned {
                // SAFETY: `d.fd` is this descriptor's own fd, replaced on the next line, so it is closed exactly once.
                unsafe { libc::close(d.fd) };
            }
            d.fd = fd;
            d.state = state;
            d.interest = None;
        }
        self.claim_fd(sig, fd);
        self.update_interest(sig, false);
    }

    pub(super) fn accept(&mut self, listener: u64) {
        let Some((fd, server)) = self.entries.get(&listener).map(|d| (d.fd, d.accept_as.unwrap_or(listener))) else {
            return;
        };
        for _ in 0..self.accepts_per_turn.max(1) {
            // SAFETY: accept4 allows null address pointers; `fd` is the listener's fd, open while it is in the table.
            let client = unsafe {
                libc::accept4(fd, std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
            };
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

    pub(super) fn file_notices(&mut self) {
        let Some((_, inotify)) = self.inotify.as_mut() else { return };
        for (sig, what) in inotify.drain() {
            match what {
                Some(what) => self.events.push_back(Event::Notice { sig, what }),
                None => self.events.push_back(Event::Unbound { sig, errno: 0 }),
            }
        }
    }

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
            Some((h, p)) => {
                Some(*net::resolve(h, p).map_err(ConnectError::BindResolve)?.first().expect("resolve returns one"))
            }
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
                Err(e)
                    if bind.is_some()
                        && matches!(
                            e.raw_os_error(),
                            Some(libc::EADDRNOTAVAIL) | Some(libc::EADDRINUSE) | Some(libc::EACCES)
                        ) =>
                {
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

    /// Listens on host:port (sharing it with other SO_REUSEPORT listeners if
    /// `reuse_port`). A name that resolves to both families (e.g. ::1 and
    /// 127.0.0.1) gets a listener per family, all accepting as one server.
    pub fn listen(&mut self, host: &str, port: u16, reuse_port: bool) -> io::Result<u64> {
        let addrs = net::resolve(host, port)?;
        let first = addrs[0];
        let socket = net::listen_tcp(first, reuse_port)?;
        let sig = self.insert(Descriptor::new(socket.into_raw_fd(), Kind::Acceptor, State::Open, true));
        // Port 0: the others take the port the first one got.
        // SAFETY: the descriptor was inserted just above, so its fd is open; the borrow ends with this statement.
        let port = SockRef::from(&unsafe { BorrowedFd::borrow_raw(self.entries[&sig].fd) })
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .map_or(port, |a| a.port());
        for addr in addrs.iter().skip(1).filter(|a| a.is_ipv4() != first.is_ipv4()).take(1) {
            let mut addr = *addr;
            addr.set_port(port);
            if let Ok(extra) = net::listen_tcp(addr, reuse_port) {
                let mut d = Descriptor::new(extra.into_raw_fd(), Kind::Acceptor, State::Open, true);
                d.accept_as = Some(sig);
                let extra_sig = self.insert(d);
                self.entries.get_mut(&sig).expect("just inserted").sibling_listeners.push(extra_sig);
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
        // SAFETY: F_GETFL only reads flags and passes no memory; a bad fd gives -1, checked here.
        if unsafe { libc::fcntl(fd, libc::F_GETFL) } < 0 {
            return Err(io::Error::last_os_error());
        }
        if kind != Kind::Watch {
            // SAFETY: F_GETFL on an fd just checked to be open; no memory passed.
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
            // SAFETY: F_SETFL with an int on the caller's open fd; no memory passed.
            unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
        }
        Ok(self.insert(Descriptor::new(fd, kind, State::Open, false)))
    }

    /// Forgets a descriptor without closing its fd, and returns the fd; its unbind
    /// follows, as in EM.
    pub fn detach(&mut self, sig: u64) -> Option<RawFd> {
        let mut d = self.entries.remove(&sig)?;
        if d.interest.is_some() {
            let _ = self.registry.deregister(&d.fd);
        }
        d.owned = false;
        self.events.push_back(Event::Unbound { sig, errno: 0 });
        Some(d.fd)
    }
}
