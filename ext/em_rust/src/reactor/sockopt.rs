//! Socket addresses and options of a descriptor.
use super::descriptor::{Kind, State};
use super::net;
use super::table::Table;
use socket2::SockRef;
use std::io;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::Duration;

impl Table {
    pub fn peername(&mut self, sig: u64) -> Option<Vec<u8>> {
        let d = self.entries.get_mut(&sig)?;
        if let Some(peer) = d.last_peer {
            return Some(net::sockaddr_bytes(&peer.into()));
        }
        if let Some(peer) = &d.peer {
            return Some(net::sockaddr_bytes(peer));
        }
        // SAFETY: `d.fd` is open while `d` is in the table; the borrow ends with this statement.
        let addr = SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }).peer_addr().ok()?;
        // Kept only for our own connected stream sockets: an attached fd may be
        // swapped behind our back.
        if d.owned && d.kind == Kind::Stream && d.state == State::Open {
            d.peer = Some(Box::new(addr.clone())); // boxed: most descriptors never ask
        }
        Some(net::sockaddr_bytes(&addr))
    }

    pub fn sockname(&self, sig: u64) -> Option<Vec<u8>> {
        let d = self.entries.get(&sig)?;
        // SAFETY: `d.fd` is open while `d` is in the table; the borrow ends with this statement.
        let addr = SockRef::from(&unsafe { BorrowedFd::borrow_raw(d.fd) }).local_addr().ok()?;
        Some(net::sockaddr_bytes(&addr))
    }

    pub fn fd(&self, sig: u64) -> Option<RawFd> {
        self.entries.get(&sig).map(|d| d.fd)
    }

    /// getsockopt as an int (what EM's get_sock_opt callers read).
    pub fn get_sock_opt(&self, sig: u64, level: i32, opt: i32) -> io::Result<Vec<u8>> {
        let fd = self.fd(sig).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        let mut buf = [0u8; 256];
        let mut len = buf.len() as libc::socklen_t;
        // SAFETY: `buf` is live and `len` is its size, so getsockopt writes inside it; a bad fd gives -1, checked.
        if unsafe { libc::getsockopt(fd, level, opt, buf.as_mut_ptr().cast(), &mut len) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(buf[..len as usize].to_vec())
    }

    pub fn set_sock_opt(&self, sig: u64, level: i32, opt: i32, value: &[u8]) -> io::Result<()> {
        let fd = self.fd(sig).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: `value` is a live slice and its own length is passed; setsockopt only reads it.
        if unsafe { libc::setsockopt(fd, level, opt, value.as_ptr().cast(), value.len() as libc::socklen_t) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// TCP keepalive: idle/interval in seconds, probe count (0 = leave the default).
    pub fn set_keepalive(&self, sig: u64, on: bool, idle: u32, interval: u32, count: u32) -> io::Result<()> {
        let fd = self.fd(sig).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
        // SAFETY: `fd` comes from the table, which `&self` keeps from closing it while `socket` is in use.
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
