//! TLS parameters and the OpenSSL contexts built from them (EventMachine's TLS is
//! OpenSSL-shaped: cipher strings, DHE, ECDH curves, TLS 1.0–1.3 selection, OpenSSL
//! names). Contexts are shared by connections with the same options. The
//! per-connection session is in tls_session.rs, the verifier guard in tls_verify.rs.
use openssl::dh::Dh;
use openssl::error::ErrorStack;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{SslContext, SslContextBuilder, SslMethod, SslMode, SslOptions, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use std::sync::OnceLock;

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
    pub(super) fn chain_verification(&self) -> bool {
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
    pub(super) fn host_to_verify(&self, server: bool) -> Result<Option<&str>, TlsError> {
        if server || !self.chain_verification() || self.verify_hostname == Some(false) {
            return Ok(None);
        }
        match self.sni_hostname.as_deref().or(self.connect_host.as_deref()) {
            Some(host) => Ok(Some(host)),
            None => Err(TlsError::NoHostToVerify),
        }
    }
}

pub(super) fn bad(e: ErrorStack) -> TlsError {
    TlsError::BadParams(e.to_string())
}

/// Contexts are shared by every connection with the same options (EM makes one
/// per connection): loading keys and certificates once saves a lot of memory and
/// time per handshake. Per-connection settings (SNI, the host checked) are not part
/// of the context. A few distinct option sets are normal; the cache is bounded.
pub(super) fn shared_context(params: &TlsParams, server: bool) -> Result<(SslContext, bool), TlsError> {
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
