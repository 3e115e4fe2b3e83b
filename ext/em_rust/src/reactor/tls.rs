//! TLS for a connection, on OpenSSL (EventMachine's TLS is OpenSSL-shaped: cipher
//! strings, DHE, ECDH curves, TLS 1.0–1.3 selection, OpenSSL names). A session
//! wraps the connection's non-blocking fd; the descriptor table drives the
//! handshake on readiness and moves plaintext through `read` / `write`.
use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    ErrorCode, HandshakeError, NameType, Ssl, SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslStream,
    SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use std::cell::Cell;
use std::io::{self, Read, Write};
use std::os::fd::RawFd;
use std::sync::OnceLock;

/// Judges a peer certificate during the handshake, as EM's ssl_verify_peer does:
/// (connection signature, the certificate OpenSSL is looking at, as PEM, the
/// cipher negotiated so far) -> accept?
pub type Verifier<'a> = dyn FnMut(u64, &[u8], Option<&CipherInfo>) -> bool + 'a;

/// The negotiated cipher, as the getters report it; known during verification,
/// while the session itself is busy in its handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CipherInfo {
    pub name: String,
    pub bits: i32,
    /// SSL_CIPHER_get_version, EM's get_cipher_protocol.
    pub version: String,
}

impl CipherInfo {
    fn of(cipher: &openssl::ssl::SslCipherRef) -> CipherInfo {
        CipherInfo {
            name: cipher.name().to_string(),
            bits: cipher.bits().secret,
            version: cipher.version().to_string(),
        }
    }
}

// rust-openssl wants a `'static + Send` verify callback, but ssl_verify_peer needs
// the Ruby reactor of this turn: the callback reads the verifier installed for the
// duration of `with_verifier` from this thread-local.
thread_local! {
    static VERIFIER: Cell<Option<*mut Verifier<'static>>> = const { Cell::new(None) };
}

/// Puts the previous verifier back when `with_verifier` ends, even by a panic, so
/// the thread-local never keeps a pointer past its call.
struct Restore(Option<*mut Verifier<'static>>);

impl Drop for Restore {
    fn drop(&mut self) {
        VERIFIER.with(|v| v.set(self.0));
    }
}

/// Runs `f` (which may drive handshakes) with `verifier` answering OpenSSL's
/// verify callbacks. Without one installed, certificates are rejected.
pub fn with_verifier<R>(verifier: &mut Verifier<'_>, f: impl FnOnce() -> R) -> R {
    // SAFETY: the erased lifetime is never observed past this call: `Restore`
    // removes the pointer when this frame ends, by return or by unwinding.
    let ptr: *mut Verifier<'static> = unsafe { std::mem::transmute(verifier as *mut Verifier<'_>) };
    let _restore = Restore(VERIFIER.with(|v| v.replace(Some(ptr))));
    f()
}

fn ask_verifier(sig: u64, pem: &[u8], cipher: Option<&CipherInfo>) -> bool {
    match VERIFIER.with(|v| v.get()) {
        // SAFETY: installed by `with_verifier`, whose frame is still live.
        Some(verifier) => unsafe { (*verifier)(sig, pem, cipher) },
        None => false,
    }
}

pub const PROTO_SSLV2: u32 = 2;
pub const PROTO_SSLV3: u32 = 4;
pub const PROTO_TLSV1: u32 = 8;
pub const PROTO_TLSV1_1: u32 = 16;
pub const PROTO_TLSV1_2: u32 = 32;
pub const PROTO_TLSV1_3: u32 = 64;
/// What start_tls uses without :ssl_version.
pub const PROTO_DEFAULT: u32 = PROTO_TLSV1 | PROTO_TLSV1_1 | PROTO_TLSV1_2 | PROTO_TLSV1_3;

/// EM's default cipher list.
const DEFAULT_CIPHERS: &str = "ALL:!ADH:!LOW:!EXP:!DES-CBC3-SHA:@STRENGTH";

/// Everything `start_tls` was given (EM's options plus em_rust's CA verification).
#[derive(Default, Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsParams {
    pub private_key_file: Option<String>,
    pub private_key: Option<String>,
    pub private_key_pass: Option<String>,
    pub cert_chain_file: Option<String>,
    pub cert: Option<String>,
    pub verify_peer: bool,
    pub fail_if_no_peer_cert: bool,
    pub sni_hostname: Option<String>,
    pub cipher_list: Option<String>,
    pub ecdh_curve: Option<String>,
    pub dhparam: Option<String>,
    pub protocols: u32,
    pub ca_file: Option<String>,
    pub ca_path: Option<String>,
    pub ca_default: bool,
    /// With a CA configured: check the peer's name (default true then).
    pub verify_hostname: Option<bool>,
    /// The host a client connected to (for the hostname check without sni_hostname).
    pub connect_host: Option<String>,
}

impl TlsParams {
    fn chain_verification(&self) -> bool {
        self.ca_file.is_some() || self.ca_path.is_some() || self.ca_default
    }
}

#[derive(Debug)]
pub enum TlsError {
    /// A key that would not load (EM::InvalidPrivateKey).
    InvalidPrivateKey(String),
    /// Anything else about the parameters.
    BadParams(String),
    /// Chain verification asked for with no host name to check (EM::BadParams).
    NoHostToVerify,
}

impl TlsParams {
    /// Checks the options before any handshake: a key that does not load raises now
    /// (also for a client whose connect is still in flight), and a client with CA
    /// verification must have a name to check, unless told not to check one.
    pub fn check(&self, server: bool) -> Result<(), TlsError> {
        shared_context(self, server)?;
        self.host_to_verify(server).map(|_| ())
    }

    /// The name the peer's certificate must carry, if one is checked.
    fn host_to_verify(&self, server: bool) -> Result<Option<&str>, TlsError> {
        if server || !self.chain_verification() || self.verify_hostname == Some(false) {
            return Ok(None);
        }
        match self.sni_hostname.as_deref().or(self.connect_host.as_deref()) {
            Some(host) => Ok(Some(host)),
            None => Err(TlsError::NoHostToVerify),
        }
    }
}

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

    /// Did OpenSSL's own chain (and hostname) verification pass?
    pub fn chain_verified(&self) -> bool {
        self.stream.ssl().verify_result() == openssl::x509::X509VerifyResult::OK
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

fn bad(e: ErrorStack) -> TlsError {
    TlsError::BadParams(e.to_string())
}

/// Contexts are shared by every connection with the same options (EM makes one
/// per connection): loading keys and certificates once saves a lot of memory and
/// time per handshake. Per-connection settings (SNI, the host checked) are not part
/// of the context. A few distinct option sets are normal; the cache is bounded.
fn shared_context(params: &TlsParams, server: bool) -> Result<(SslContext, bool), TlsError> {
    type Cache = std::collections::HashMap<(TlsParams, bool), (SslContext, bool)>;
    static CACHE: OnceLock<std::sync::Mutex<Cache>> = OnceLock::new();
    let key = (TlsParams { sni_hostname: None, connect_host: None, ..params.clone() }, server);
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(hit.clone());
    }
    let built = context(params, server)?;
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= 64 {
        cache.clear();
    }
    cache.insert(key, built.clone());
    Ok(built)
}

/// The context, and whether its key or certificate files failed to load.
fn context(params: &TlsParams, server: bool) -> Result<(SslContext, bool), TlsError> {
    // Errors another library (Ruby's openssl) left in this thread's OpenSSL queue
    // must not end up in our messages.
    drop(ErrorStack::get());
    let method = if server { SslMethod::tls_server() } else { SslMethod::tls_client() };
    let mut ctx = SslContextBuilder::new(method).map_err(bad)?;
    // RELEASE_BUFFERS as EM: an idle session keeps no 16 KiB read and write buffers.
    ctx.set_mode(SslMode::ENABLE_PARTIAL_WRITE | SslMode::ACCEPT_MOVING_WRITE_BUFFER | SslMode::RELEASE_BUFFERS);
    // No TLS 1.2 renegotiation: its verify callback would run inside a read, with
    // the descriptor table borrowed, where ssl_verify_peer cannot use its connection.
    ctx.set_options(SslOptions::NO_COMPRESSION | SslOptions::NO_RENEGOTIATION);
    // No usable protocol (sslv2/sslv3, or none) fails the handshake, as in EM.
    let mut broken = set_protocols(&mut ctx, params.protocols).is_err();
    // TLS 1.0/1.1 and small DH groups need OpenSSL 3's security level 0, as EM allowed.
    let ciphers = params.cipher_list.as_deref().unwrap_or(DEFAULT_CIPHERS);
    let low_levels = params.protocols & (PROTO_TLSV1 | PROTO_TLSV1_1 | PROTO_SSLV3) != 0;
    let ciphers = if low_levels && !ciphers.contains("@SECLEVEL") {
        format!("{ciphers}:@SECLEVEL=0")
    } else {
        ciphers.to_string()
    };
    ctx.set_cipher_list(&ciphers).map_err(bad)?;
    // SAFETY: `ctx.as_ptr()` is the live SSL_CTX being built; SSL_CTRL_SET_DH_AUTO (118) takes a long, no pointer.
    unsafe {
        // SSL_CTX_set_dh_auto: DHE without a dhparam file.
        openssl_sys::SSL_CTX_ctrl(ctx.as_ptr(), 118, 1, std::ptr::null_mut());
    }
    if let Some(file) = params.dhparam.as_deref() {
        let pem = std::fs::read(file)
            .map_err(|_| TlsError::InvalidPrivateKey(format!("dhparam: BIO_new_file({file}) failed")))?;
        let dh = Dh::params_from_pem(&pem)
            .map_err(|_| TlsError::InvalidPrivateKey(format!("dhparam: PEM_read_bio_DHparams({file}) failed")))?;
        ctx.set_tmp_dh(&dh).map_err(bad)?;
    }
    if let Some(curve) = params.ecdh_curve.as_deref() {
        ctx.set_groups_list(curve)
            .map_err(|_| TlsError::InvalidPrivateKey(format!("ecdh_curve: Unknown curve name: {curve}")))?;
    }
    broken |= load_identity(&mut ctx, params, server)?;
    set_verification(&mut ctx, params)?;
    Ok((ctx.build(), broken))
}

fn set_protocols(ctx: &mut SslContextBuilder, mask: u32) -> Result<(), TlsError> {
    let levels = [
        (PROTO_TLSV1, SslVersion::TLS1),
        (PROTO_TLSV1_1, SslVersion::TLS1_1),
        (PROTO_TLSV1_2, SslVersion::TLS1_2),
        (PROTO_TLSV1_3, SslVersion::TLS1_3),
    ];
    let enabled: Vec<SslVersion> = levels.iter().filter(|(bit, _)| mask & bit != 0).map(|(_, v)| *v).collect();
    let (Some(min), Some(max)) = (enabled.first(), enabled.last()) else {
        return Err(TlsError::BadParams("no usable SSL/TLS protocol".into()));
    };
    ctx.set_min_proto_version(Some(*min)).map_err(bad)?;
    ctx.set_max_proto_version(Some(*max)).map_err(bad)?;
    // Gaps inside the range are switched off one by one.
    let mut options = SslOptions::empty();
    for (bit, option) in [
        (PROTO_TLSV1, SslOptions::NO_TLSV1),
        (PROTO_TLSV1_1, SslOptions::NO_TLSV1_1),
        (PROTO_TLSV1_2, SslOptions::NO_TLSV1_2),
        (PROTO_TLSV1_3, SslOptions::NO_TLSV1_3),
    ] {
        if mask & bit == 0 {
            options |= option;
        }
    }
    ctx.set_options(options);
    Ok(())
}

/// Loads the key and certificate. As in EM, a bad :private_key / :cert string raises
/// (InvalidPrivateKey) while files that do not load only fail the handshake: the
/// return value says so.
fn load_identity(ctx: &mut SslContextBuilder, params: &TlsParams, server: bool) -> Result<bool, TlsError> {
    // Only a :private_key string that does not load (or match) raises; files and
    // :cert strings that do not load fail the handshake.
    let raises = params.private_key.is_some();
    let key = match load_key(params) {
        Ok(key) => key,
        Err(e) if raises => return Err(e),
        Err(_) => return Ok(true),
    };
    let mut cert_loaded = true;
    let loaded = (|| -> Result<(), TlsError> {
        if let Some(file) = params.cert_chain_file.as_deref() {
            ctx.set_certificate_chain_file(file).map_err(invalid_key)?;
        } else if let Some(pem) = params.cert.as_deref() {
            let leaf = X509::stack_from_pem(pem.as_bytes()).ok().and_then(|c| c.into_iter().next());
            let Some(leaf) = leaf else {
                cert_loaded = false;
                return Ok(());
            };
            ctx.set_certificate(&leaf).map_err(invalid_key)?;
        } else if server && key.is_none() {
            // EM's servers always have a certificate: a built-in default one.
            let (cert, key) = default_identity();
            ctx.set_certificate(cert).map_err(bad)?;
            ctx.set_private_key(key).map_err(bad)?;
            return Ok(());
        }
        if let Some(key) = key.as_ref() {
            ctx.set_private_key(key).map_err(invalid_key)?;
            ctx.check_private_key().map_err(invalid_key)?;
        }
        Ok(())
    })();
    match loaded {
        Ok(()) => Ok(!cert_loaded),
        Err(_) if !raises => Ok(true),
        Err(e) => Err(e),
    }
}

fn invalid_key(e: ErrorStack) -> TlsError {
    TlsError::InvalidPrivateKey(e.to_string())
}

fn load_key(params: &TlsParams) -> Result<Option<PKey<Private>>, TlsError> {
    let pem = match (params.private_key.as_deref(), params.private_key_file.as_deref()) {
        (Some(pem), _) => pem.as_bytes().to_vec(),
        (None, Some(file)) => std::fs::read(file).map_err(|e| TlsError::InvalidPrivateKey(format!("{file}: {e}")))?,
        (None, None) => return Ok(None),
    };
    // Never a passphrase prompt: no passphrase means an empty one.
    let pass = params.private_key_pass.as_deref().unwrap_or("");
    PKey::private_key_from_pem_passphrase(&pem, pass.as_bytes()).map(Some).map_err(invalid_key)
}

/// CA stores for em_rust's chain verification; the verify mode itself is set per
/// connection (see `TlsSession::new`).
fn set_verification(ctx: &mut SslContextBuilder, params: &TlsParams) -> Result<(), TlsError> {
    if params.chain_verification() {
        if let Some(file) = params.ca_file.as_deref() {
            ctx.set_ca_file(file).map_err(bad)?;
        }
        if let Some(dir) = params.ca_path.as_deref() {
            ctx.load_verify_locations(None, Some(std::path::Path::new(dir))).map_err(bad)?;
        }
        if params.ca_default {
            ctx.set_default_verify_paths().map_err(bad)?;
        }
    }
    ctx.set_verify(SslVerifyMode::NONE);
    Ok(())
}

/// The built-in server identity: a constant self-signed certificate and key (as
/// EM's), parsed once; generating a key here would stall the reactor ~250 ms.
fn default_identity() -> &'static (X509, PKey<Private>) {
    static IDENTITY: OnceLock<(X509, PKey<Private>)> = OnceLock::new();
    IDENTITY.get_or_init(|| {
        let pem = include_bytes!("default_identity.pem");
        let cert = X509::from_pem(pem).expect("built-in certificate");
        let key = PKey::private_key_from_pem(pem).expect("built-in key");
        (cert, key)
    })
}

/// For a handshake that failed before the stream existed (unused variants kept
/// out of the public API).
#[allow(dead_code)]
fn describe(e: HandshakeError<Fd>) -> String {
    match e {
        HandshakeError::SetupFailure(e) => e.to_string(),
        HandshakeError::Failure(m) | HandshakeError::WouldBlock(m) => m.error().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_is_gone_after_with_verifier_even_when_it_panics() {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            with_verifier(&mut |_, _, _| true, || {
                assert!(ask_verifier(1, b"", None));
                panic!("inside the handshake");
            })
        }));
        assert!(outcome.is_err());
        assert!(!ask_verifier(1, b"", None), "no verifier: rejected, and no dangling pointer");
    }
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
