//! One connection's TLS session on OpenSSL: it wraps the connection's non-blocking
//! fd; the descriptor table drives the handshake on readiness (tls_steps.rs) and
//! moves plaintext through `read` / `write`. The contexts it is made from are built
//! in tls.rs; certificate verdicts come from tls_verify.rs.
use super::tls::{bad, shared_context, TlsError, TlsParams};
use super::tls_verify::{ask_verifier, CipherInfo};
use openssl::ssl::{ErrorCode, NameType, Ssl, SslStream, SslVerifyMode};
use std::io::{self, Read, Write};
use std::os::fd::RawFd;

/// Reads and writes the raw fd; WouldBlock when the socket has nothing / no room.
struct Fd(RawFd);

impl Read for Fd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `self.0` is the connection's fd, open while its descriptor (holding this session) lives.
        let n = unsafe { libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl Write for Fd {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: `self.0` is the connection's open fd; `buf` is live and its own length is passed.
        let n = unsafe { libc::send(self.0, buf.as_ptr().cast(), buf.len(), libc::MSG_NOSIGNAL) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// What an operation on the session came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    Done(usize),
    /// Needs the socket readable (or writable) again.
    WantRead,
    WantWrite,
    /// The peer closed the TLS session.
    Closed,
}

pub struct TlsSession {
    stream: SslStream<Fd>,
    handshaken: bool,
    /// A key or certificate file that did not load: EM fails the handshake, not
    /// start_tls.
    broken: bool,
}

impl TlsSession {
    pub fn new(fd: RawFd, params: &TlsParams, server: bool, sig: u64) -> Result<Self, TlsError> {
        let (ctx, broken) = shared_context(params, server)?;
        let mut ssl = Ssl::new(&ctx).map_err(bad)?;
        if params.verify_peer || params.chain_verification() {
            let mut mode = SslVerifyMode::PEER;
            if server && params.fail_if_no_peer_cert {
                mode |= SslVerifyMode::FAIL_IF_NO_PEER_CERT;
            }
            let chain = params.chain_verification();
            let ask_ruby = params.verify_peer;
            // OpenSSL calls this for each certificate it checks; with a CA store its
            // verdict stands unless Ruby rejects; without, Ruby decides (EM's model).
            ssl.set_verify_callback(mode, move |preverified, store| {
                if chain && !preverified {
                    return false;
                }
                if !ask_ruby {
                    return true;
                }
                let pem = store.current_cert().and_then(|c| c.to_pem().ok()).unwrap_or_default();
                let cipher = openssl::x509::X509StoreContext::ssl_idx()
                    .ok()
                    .and_then(|idx| store.ex_data(idx))
                    .and_then(|ssl| ssl.current_cipher())
                    .map(CipherInfo::of);
                ask_verifier(sig, &pem, cipher.as_ref())
            });
        }
        if server {
            ssl.set_accept_state();
        } else {
            ssl.set_connect_state();
            if let Some(name) = params.sni_hostname.as_deref() {
                ssl.set_hostname(name).map_err(bad)?;
            }
            if let Some(host) = params.host_to_verify(server)? {
                // An address is checked against the certificate's IP SANs.
                match host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>() {
                    Ok(ip) => ssl.param_mut().set_ip(ip).map_err(bad)?,
                    Err(_) => ssl.param_mut().set_host(host).map_err(bad)?,
                }
            }
        }
        let stream = SslStream::new(ssl, Fd(fd)).map_err(bad)?;
        Ok(TlsSession { stream, handshaken: false, broken })
    }

    pub fn handshaken(&self) -> bool {
        self.handshaken
    }

    /// Advances the handshake; Done(0) once it has completed.
    pub fn handshake(&mut self) -> io::Result<Progress> {
        if self.handshaken {
            return Ok(Progress::Done(0));
        }
        if self.broken {
            return Err(io::Error::from_raw_os_error(libc::EPROTO));
        }
        match self.stream.do_handshake() {
            Ok(()) => {
                self.handshaken = true;
                Ok(Progress::Done(0))
            }
            Err(e) => classify(e),
        }
    }

    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<Progress> {
        match self.stream.ssl_read(buf) {
            Ok(0) => Ok(Progress::Closed),
            Ok(n) => Ok(Progress::Done(n)),
            Err(e) => classify(e),
        }
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<Progress> {
        match self.stream.ssl_write(data) {
            Ok(n) => Ok(Progress::Done(n)),
            Err(e) => classify(e),
        }
    }

    /// Sends close_notify (best effort: the socket closes right after).
    pub fn shutdown(&mut self) {
        let _ = self.stream.shutdown();
    }

    pub fn peer_cert_pem(&self) -> Option<Vec<u8>> {
        self.stream.ssl().peer_certificate().and_then(|c| c.to_pem().ok())
    }

    /// OpenSSL's name; "(NONE)" before the handshake, as EM reports.
    pub fn cipher_name(&self) -> String {
        self.stream.ssl().current_cipher().map_or_else(|| "(NONE)".to_string(), |c| c.name().to_string())
    }

    pub fn cipher_bits(&self) -> Option<i32> {
        self.stream.ssl().current_cipher().map(|c| c.bits().secret)
    }

    /// The negotiated cipher's protocol version (OpenSSL's SSL_CIPHER_get_version,
    /// what EM reports: "TLSv1.3", or "SSLv3" for an SSLv3-era cipher over TLS 1.2).
    pub fn protocol(&self) -> String {
        match self.stream.ssl().current_cipher() {
            Some(cipher) if self.handshaken => cipher.version().to_string(),
            _ => "(NONE)".to_string(),
        }
    }

    pub fn sni_hostname(&self) -> Option<String> {
        self.stream.ssl().servername(NameType::HOST_NAME).map(str::to_string)
    }
}

fn classify(e: openssl::ssl::Error) -> io::Result<Progress> {
    let code = e.code();
    let text = e.to_string();
    let io = e.into_io_error().ok();
    match code {
        ErrorCode::WANT_READ => Ok(Progress::WantRead),
        ErrorCode::WANT_WRITE => Ok(Progress::WantWrite),
        ErrorCode::ZERO_RETURN => Ok(Progress::Closed),
        ErrorCode::SYSCALL => match io {
            Some(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Progress::WantRead),
            Some(e) => Err(e),
            None => Ok(Progress::Closed),
        },
        _ => Err(io.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidData, text))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::tls::{PROTO_DEFAULT, PROTO_TLSV1_2};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    fn drive(client: &mut TlsSession, server: &mut TlsSession) {
        for _ in 0..100 {
            let c = client.handshake().unwrap();
            let s = server.handshake().unwrap();
            if c == Progress::Done(0) && s == Progress::Done(0) {
                return;
            }
        }
        panic!("handshake did not finish");
    }

    #[test]
    fn handshake_and_data_over_a_socketpair_with_the_default_server_identity() {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let params = TlsParams { protocols: PROTO_DEFAULT, ..Default::default() };
        let mut client = TlsSession::new(a.as_raw_fd(), &params, false, 1).unwrap();
        let mut server = TlsSession::new(b.as_raw_fd(), &params, true, 2).unwrap();
        drive(&mut client, &mut server);
        assert_eq!(client.protocol(), "TLSv1.3");
        assert!(client.peer_cert_pem().is_some());
        assert_eq!(client.write(b"hello").unwrap(), Progress::Done(5));
        let mut buf = [0u8; 16];
        let mut got = server.read(&mut buf).unwrap();
        for _ in 0..10 {
            if got != Progress::WantRead {
                break;
            }
            got = server.read(&mut buf).unwrap();
        }
        assert_eq!(got, Progress::Done(5));
        assert_eq!(&buf[..5], b"hello");
    }

    #[test]
    fn no_usable_protocol_fails_the_handshake_not_the_setup() {
        let (a, _b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut client = TlsSession::new(a.as_raw_fd(), &TlsParams::default(), false, 1).unwrap();
        assert!(client.handshake().is_err());
    }

    #[test]
    fn protocol_mask_selects_tls_1_2() {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        b.set_nonblocking(true).unwrap();
        let params = TlsParams { protocols: PROTO_TLSV1_2, cipher_list: Some("DHE,EDH".into()), ..Default::default() };
        let mut client = TlsSession::new(a.as_raw_fd(), &params, false, 1).unwrap();
        let mut server =
            TlsSession::new(b.as_raw_fd(), &TlsParams { protocols: PROTO_TLSV1_2, ..Default::default() }, true, 2)
                .unwrap();
        drive(&mut client, &mut server);
        assert_eq!(client.protocol(), "TLSv1.2");
        assert!(client.cipher_name().contains("DHE"), "{:?}", client.cipher_name());
    }
}
