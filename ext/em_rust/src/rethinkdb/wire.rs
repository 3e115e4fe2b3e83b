//! The bytes under a RethinkDB connection: a plain TCP socket or TLS over one.
//! Both are non-blocking; `WouldBlock` means "poll the fd and try again". A TLS
//! session is one OpenSSL object behind a Mutex, held only for one non-blocking
//! read or write, never across a wait, so a reader and a writer on two threads
//! still wait at the same time (in poll, on the same fd). A TLS read may need to
//! write (a TLS 1.3 key update's answer) and a write to read (a renegotiation):
//! `poll_events` then adds the other direction, so the wait ends when that can
//! go on, instead of never (or at once, over and over).
use openssl::ssl::{HandshakeError, MidHandshakeSslStream, SslConnector, SslMethod, SslStream, SslVersion};
use openssl::x509::store::X509StoreBuilder;
use std::io::{self, Read};
use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// How to connect: TLS with the system's CA store, or with the CAs of one file.
#[derive(Clone, Debug)]
pub struct TlsOptions {
    pub ca_file: Option<String>,
}

pub enum Wire {
    Plain(TcpStream),
    Tls {
        fd: RawFd,
        session: Mutex<SslStream<TcpStream>>,
        /// The last read stopped for want of writing; the last write for want of reading.
        read_wants_write: AtomicBool,
        write_wants_read: AtomicBool,
    },
}

/// A TLS client handshake in progress, or how it failed.
pub enum Handshaking {
    Done(Wire),
    /// Poll the fd for reading (true) or writing (false), then `continue_tls`.
    Again(Box<MidHandshakeSslStream<TcpStream>>, bool),
    Failed(String),
}

impl Wire {
    pub fn fd(&self) -> RawFd {
        match self {
            Wire::Plain(stream) => stream.as_raw_fd(),
            Wire::Tls { fd, .. } => *fd,
        }
    }

    pub fn local_port(&self) -> u16 {
        let port = |s: &TcpStream| s.local_addr().map_or(0, |a| a.port());
        match self {
            Wire::Plain(stream) => port(stream),
            Wire::Tls { session, .. } => port(session.lock().unwrap_or_else(|e| e.into_inner()).get_ref()),
        }
    }

    /// FIN both ways on the socket (no lock: it wakes a reader or writer in poll).
    pub fn shutdown(&self) {
        // SAFETY: the fd belongs to this open Wire; shutdown(2) only changes socket state.
        unsafe { libc::shutdown(self.fd(), libc::SHUT_RDWR) };
    }

    /// One non-blocking read: Ok(0) at the end of the stream.
    pub fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(stream) => (&*stream).read(buf),
            Wire::Tls { session, read_wants_write, .. } => {
                let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                let result = session.ssl_read(buf);
                read_wants_write.store(wants(&result, openssl::ssl::ErrorCode::WANT_WRITE), Ordering::Relaxed);
                match result {
                    Ok(n) => Ok(n),
                    Err(e) if e.code() == openssl::ssl::ErrorCode::ZERO_RETURN => Ok(0),
                    Err(e) if is_want(&e) => Err(io::ErrorKind::WouldBlock.into()),
                    Err(e) => Err(e.into_io_error().unwrap_or_else(|e| io::Error::other(e.to_string()))),
                }
            }
        }
    }

    /// One non-blocking write of a prefix of `buf` (retried with the same bytes
    /// first after `WouldBlock`, as OpenSSL requires).
    pub fn write(&self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Wire::Plain(stream) => send_nosignal(stream.as_raw_fd(), buf),
            Wire::Tls { session, write_wants_read, .. } => {
                let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
                let result = session.ssl_write(buf);
                write_wants_read.store(wants(&result, openssl::ssl::ErrorCode::WANT_READ), Ordering::Relaxed);
                match result {
                    Ok(n) => Ok(n),
                    Err(e) if is_want(&e) => Err(io::ErrorKind::WouldBlock.into()),
                    Err(e) => Err(e.into_io_error().unwrap_or_else(|e| io::Error::other(e.to_string()))),
                }
            }
        }
    }

    /// What to poll for before reading again (`reading`) or writing again: POLLIN
    /// or POLLOUT, and the other one too when TLS last stopped for want of it.
    pub fn poll_events(&self, reading: bool) -> libc::c_short {
        let (own, other) = if reading { (libc::POLLIN, libc::POLLOUT) } else { (libc::POLLOUT, libc::POLLIN) };
        let other_wanted = match self {
            Wire::Plain(_) => false,
            Wire::Tls { read_wants_write, write_wants_read, .. } => {
                if reading { read_wants_write } else { write_wants_read }.load(Ordering::Relaxed)
            }
        };
        if other_wanted {
            own | other
        } else {
            own
        }
    }

    /// Decrypted bytes OpenSSL holds that a read would return without the fd
    /// being readable.
    pub fn buffered(&self) -> bool {
        match self {
            Wire::Plain(_) => false,
            Wire::Tls { session, .. } => session.lock().unwrap_or_else(|e| e.into_inner()).ssl().pending() > 0,
        }
    }
}

fn wants<T>(result: &Result<T, openssl::ssl::Error>, code: openssl::ssl::ErrorCode) -> bool {
    matches!(result, Err(e) if e.code() == code)
}

fn is_want(e: &openssl::ssl::Error) -> bool {
    matches!(e.code(), openssl::ssl::ErrorCode::WANT_READ | openssl::ssl::ErrorCode::WANT_WRITE)
}

/// send(2) with MSG_NOSIGNAL: a peer that has gone gives EPIPE, not SIGPIPE.
pub fn send_nosignal(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: `bytes` is a live slice and its length is passed with it.
    let n = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Starts a TLS client handshake on a connected non-blocking socket: TLS 1.2 or
/// 1.3, the peer verified against the CAs, the certificate's name checked against
/// `host` (an IP address against its IP entries). Fails closed.
pub fn start_tls(stream: TcpStream, host: &str, options: &TlsOptions) -> Handshaking {
    let connector = match connector(options) {
        Ok(c) => c,
        Err(why) => return Handshaking::Failed(why),
    };
    let ssl = match connector.configure().and_then(|c| c.into_ssl(host)) {
        Ok(ssl) => ssl,
        Err(e) => return Handshaking::Failed(format!("TLS setup failed: {e}")),
    };
    finish(ssl.connect(stream))
}

/// Takes the handshake one step further once the fd is ready.
pub fn continue_tls(mid: MidHandshakeSslStream<TcpStream>) -> Handshaking {
    finish(mid.handshake())
}

fn finish(result: Result<SslStream<TcpStream>, HandshakeError<TcpStream>>) -> Handshaking {
    match result {
        Ok(stream) => Handshaking::Done(Wire::Tls {
            fd: stream.get_ref().as_raw_fd(),
            session: Mutex::new(stream),
            read_wants_write: AtomicBool::new(false),
            write_wants_read: AtomicBool::new(false),
        }),
        Err(HandshakeError::WouldBlock(mid)) => {
            let wants_read = mid.error().code() == openssl::ssl::ErrorCode::WANT_READ;
            Handshaking::Again(Box::new(mid), wants_read)
        }
        Err(HandshakeError::Failure(mid)) => {
            let verify = mid.ssl().verify_result();
            let why = if verify.as_raw() != 0 {
                format!("TLS handshake failed: certificate verify failed ({})", verify.error_string())
            } else {
                format!("TLS handshake failed: {}", mid.error())
            };
            Handshaking::Failed(why)
        }
        Err(HandshakeError::SetupFailure(e)) => Handshaking::Failed(format!("TLS setup failed: {e}")),
    }
}

fn connector(options: &TlsOptions) -> Result<SslConnector, String> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(|e| format!("TLS setup failed: {e}"))?;
    builder.set_min_proto_version(Some(SslVersion::TLS1_2)).map_err(|e| format!("TLS setup failed: {e}"))?;
    // The builder trusts the system's CAs and verifies the peer; with ca_certs,
    // only that file's CAs are trusted (as the official driver).
    if let Some(path) = &options.ca_file {
        let empty = X509StoreBuilder::new().map_err(|e| format!("TLS setup failed: {e}"))?.build();
        builder.set_cert_store(empty);
        builder.set_ca_file(path).map_err(|e| format!("could not load the CA certificates in {path}: {e}"))?;
    }
    Ok(builder.build())
}
