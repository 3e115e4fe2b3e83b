//! `start_tls` and the TLS getters: option conversion from Ruby and error mapping;
//! the TLS work is in `reactor::tls`.
use super::errors;
use super::machine::Machine;
use crate::reactor::tls::TlsParams;
use crate::reactor::tls_verify::CipherInfo;
use magnus::{method, prelude::*, Error, RClass, RHash, RString, Ruby, Value};

fn string_opt(opts: RHash, key: &str) -> Result<Option<String>, Error> {
    let value: Option<Value> = opts.get(key);
    match value {
        Some(v) if !v.is_nil() => {
            let s = String::try_convert(v)?;
            Ok((!s.is_empty()).then_some(s))
        }
        _ => Ok(None),
    }
}

fn flag(opts: RHash, key: &str) -> bool {
    opts.get(key).is_some_and(|v: Value| v.to_bool())
}

fn params(opts: RHash) -> Result<TlsParams, Error> {
    let protocols: Option<Value> = opts.get("protocols");
    Ok(TlsParams {
        private_key_file: string_opt(opts, "private_key_file")?,
        private_key: string_opt(opts, "private_key")?,
        private_key_pass: string_opt(opts, "private_key_pass")?,
        cert_chain_file: string_opt(opts, "cert_chain_file")?,
        cert: string_opt(opts, "cert")?,
        verify_peer: flag(opts, "verify_peer"),
        fail_if_no_peer_cert: flag(opts, "fail_if_no_peer_cert"),
        sni_hostname: string_opt(opts, "sni_hostname")?,
        cipher_list: string_opt(opts, "cipher_list")?,
        ecdh_curve: string_opt(opts, "ecdh_curve")?,
        dhparam: string_opt(opts, "dhparam")?,
        protocols: protocols.map(u32::try_convert).transpose()?.unwrap_or(0),
        ca_file: string_opt(opts, "ca_file")?,
        ca_path: string_opt(opts, "ca_path")?,
        ca_default: flag(opts, "ca_default"),
        verify_hostname: opts.get("verify_hostname").map(|v: Value| v.to_bool()),
        connect_host: string_opt(opts, "connect_host")?,
    })
}

impl Machine {
    fn start_tls(ruby: &Ruby, rb_self: &Self, sig: u64, opts: RHash) -> Result<(), Error> {
        let params = params(opts)?;
        rb_self.reactor.table.borrow_mut().start_tls(sig, params).map_err(|e| errors::tls(ruby, e))
    }

    fn peer_cert(ruby: &Ruby, rb_self: &Self, sig: u64) -> Option<RString> {
        rb_self.reactor.table.borrow().tls(sig).and_then(|t| t.peer_cert_pem()).map(|pem| ruby.str_from_slice(&pem))
    }

    fn cipher_name(&self, sig: u64) -> Option<String> {
        self.reactor
            .table
            .borrow()
            .tls(sig)
            .map(|t| t.cipher_name())
            .or_else(|| self.verifying(sig, |c| c.name.clone()))
    }

    fn cipher_bits(&self, sig: u64) -> Option<i32> {
        let bits = self.reactor.table.borrow().tls(sig).filter(|t| t.handshaken()).and_then(|t| t.cipher_bits());
        bits.or_else(|| self.verifying(sig, |c| c.bits))
    }

    fn cipher_protocol(&self, sig: u64) -> Option<String> {
        self.reactor
            .table
            .borrow()
            .tls(sig)
            .map(|t| t.protocol())
            .or_else(|| self.verifying(sig, |c| c.version.clone()))
    }

    /// From the cipher of the handshake `sig` is verifying in (its session is
    /// out of the table for the step).
    fn verifying<T>(&self, sig: u64, f: impl FnOnce(&CipherInfo) -> T) -> Option<T> {
        match &*self.verifying.borrow() {
            Some((s, cipher)) if *s == sig => Some(f(cipher)),
            _ => None,
        }
    }

    /// OpenSSL's verify callback, during a handshake: asks the connection's
    /// ssl_verify_peer(pem). A Ruby exception rejects the certificate and is kept
    /// for the caller to raise once OpenSSL has returned.
    pub(super) fn verify_peer(
        &self,
        ruby: &Ruby,
        sig: u64,
        pem: &[u8],
        cipher: Option<&CipherInfo>,
        failure: &mut Option<Error>,
    ) -> bool {
        let Some(conn) = self.connection(ruby, sig) else { return false };
        let previous = self.verifying.replace(cipher.map(|c| (sig, c.clone())));
        let answer = conn.funcall::<_, _, Value>("ssl_verify_peer", (ruby.str_from_slice(pem),));
        self.verifying.replace(previous);
        match answer {
            Ok(answer) => answer.to_bool(),
            Err(e) => {
                failure.get_or_insert(e);
                false
            }
        }
    }

    fn sni_hostname(&self, sig: u64) -> Option<String> {
        self.reactor.table.borrow().tls(sig).and_then(|t| t.sni_hostname())
    }
}

pub fn init(ruby: &Ruby, class: RClass) -> Result<(), Error> {
    let em: magnus::RModule = ruby.class_object().const_get("EventMachine")?;
    // EM's OPENSSL_* constants, without loading Ruby's openssl (4 MB) at require time.
    em.const_set("OPENSSL_LIBRARY_VERSION", openssl::version::version())?;
    em.const_set("OPENSSL_VERSION", openssl::version::version())?;
    class.define_method("start_tls", method!(Machine::start_tls, 2))?;
    class.define_method("peer_cert", method!(Machine::peer_cert, 1))?;
    class.define_method("cipher_name", method!(Machine::cipher_name, 1))?;
    class.define_method("cipher_bits", method!(Machine::cipher_bits, 1))?;
    class.define_method("cipher_protocol", method!(Machine::cipher_protocol, 1))?;
    class.define_method("sni_hostname", method!(Machine::sni_hostname, 1))?;
    Ok(())
}
