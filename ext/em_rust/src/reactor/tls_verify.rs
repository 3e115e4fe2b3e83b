//! The verifier guard: OpenSSL's verify callback reaches the ssl_verify_peer of
//! this turn (a closure borrowing the Machine) only for the duration of
//! `with_verifier`, which restores the previous one on the way out, even by a panic.
use std::cell::Cell;

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
    pub(super) fn of(cipher: &openssl::ssl::SslCipherRef) -> CipherInfo {
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

pub(super) fn ask_verifier(sig: u64, pem: &[u8], cipher: Option<&CipherInfo>) -> bool {
    match VERIFIER.with(|v| v.get()) {
        // SAFETY: installed by `with_verifier`, whose frame is still live.
        Some(verifier) => unsafe { (*verifier)(sig, pem, cipher) },
        None => false,
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
}
