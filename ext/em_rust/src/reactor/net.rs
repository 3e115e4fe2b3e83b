//! Sockets: address resolution and non-blocking socket setup. EM resolves names
//! synchronously (getaddrinfo) and so do we; a connect tries every address.
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;

/// Every address for `host:port`, IPv6 and IPv4 alike, in the resolver's order.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "no addresses"));
    }
    Ok(addrs)
}

fn stream_socket(domain: Domain) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), None)?;
    Ok(socket)
}

/// Starts a non-blocking connect; completion is signalled by writability.
pub fn start_connect(addr: SocketAddr, bind: Option<SocketAddr>) -> io::Result<Socket> {
    let socket = stream_socket(Domain::for_address(addr))?;
    if let Some(local) = bind {
        socket.set_reuse_address(true)?;
        socket.bind(&local.into())?;
    }
    match socket.connect(&addr.into()) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(socket),
        Err(e) => Err(e),
    }
}

pub fn start_connect_unix(path: &Path) -> io::Result<Socket> {
    let socket = stream_socket(Domain::UNIX)?;
    let addr = SockAddr::unix(path)?;
    match socket.connect(&addr) {
        Ok(()) => Ok(socket),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock => Ok(socket),
        Err(e) => Err(e),
    }
}

/// A listening TCP socket. "::" (or a dual-stack name resolving to it) accepts IPv4 too.
/// With `reuse_port` (SO_REUSEPORT) other sockets, in this or other processes, may
/// listen on the same port: the kernel spreads incoming connections among them.
pub fn listen_tcp(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = stream_socket(Domain::for_address(addr))?;
    socket.set_reuse_address(true)?;
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket)
}

/// A listening Unix socket. A stale socket file left at the path is replaced; any
/// other file there is left alone (and the bind fails).
pub fn listen_unix(path: &Path) -> io::Result<Socket> {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        std::fs::remove_file(path)?;
    }
    let socket = stream_socket(Domain::UNIX)?;
    socket.bind(&SockAddr::unix(path)?)?;
    socket.listen(1024)?;
    Ok(socket)
}

pub fn udp_socket(addr: SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM.nonblocking().cloexec(), Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(false).ok();
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// The errno of a finished non-blocking connect (0 = connected).
pub fn take_socket_error(socket: &Socket) -> i32 {
    match socket.take_error() {
        Ok(None) => 0,
        Ok(Some(e)) | Err(e) => e.raw_os_error().unwrap_or(libc::EIO),
    }
}

/// getsockname/getpeername as the raw sockaddr bytes Ruby's Socket.unpack_sockaddr_in reads.
pub fn sockaddr_bytes(addr: &SockAddr) -> Vec<u8> {
    let len = addr.len() as usize;
    // SAFETY: `addr.as_ptr()` points at storage of at least `addr.len()` bytes, borrowed for this call.
    unsafe { std::slice::from_raw_parts(addr.as_ptr() as *const u8, len) }.to_vec()
}
