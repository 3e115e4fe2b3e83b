//! The client side of SCRAM-SHA-256 (RFC 5802 / RFC 7677) as RethinkDB uses it:
//! no channel binding (`n,,` / `c=biws`), no SASLprep, the password's bytes as
//! given. The server's signature is checked in constant time.
use super::ProtocolError;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// A server asking for more PBKDF2 rounds than this is refused rather than
/// letting it pin a thread for minutes (RethinkDB uses 4096).
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Raw bytes of a client nonce; base64 makes 24 characters, as `SecureRandom.base64(18)`.
pub const NONCE_BYTES: usize = 18;

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA256 with a 32-byte output: one block, so U1 = HMAC(P, S || 1)
/// and every later U is HMAC(P, previous U), all XORed together.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let keyed = HmacSha256::new_from_slice(password).expect("HMAC accepts any key length");
    let mut mac = keyed.clone();
    mac.update(salt);
    mac.update(&1u32.to_be_bytes());
    let mut u: [u8; 32] = mac.finalize().into_bytes().into();
    let mut out = u;
    for _ in 1..iterations {
        let mut mac = keyed.clone();
        mac.update(&u);
        u = mac.finalize().into_bytes().into();
        for (o, b) in out.iter_mut().zip(u.iter()) {
            *o ^= b;
        }
    }
    out
}

/// A fresh client nonce from the OS's random source.
pub fn random_nonce() -> Result<String, ProtocolError> {
    let mut raw = [0u8; NONCE_BYTES];
    getrandom::fill(&mut raw)
        .map_err(|e| ProtocolError::Driver(format!("Error during handshake: no random bytes for the nonce ({e})")))?;
    Ok(STANDARD.encode(raw))
}

/// A user name as a SCRAM `saslname`: `=` becomes `=3D`, `,` becomes `=2C`.
pub fn escape_user(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// Decodes base64 the way Ruby's `Base64.decode64` tolerates it: padding may be
/// missing or doubled (reqlite appends an extra `==`), whitespace is skipped and
/// leftover bits are ignored. Characters outside the alphabet are still an error.
pub fn decode_base64_lenient(text: &str) -> Result<Vec<u8>, String> {
    let mut clean: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let data_len = clean.trim_end_matches('=').len();
    clean.truncate(data_len);
    if let Some(bad) = clean.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '+' || *c == '/')) {
        return Err(format!("invalid base64 character {bad:?} in {text:?}"));
    }
    // A lone character after the last full group carries fewer than 8 bits.
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT.decode(clean.as_bytes()).map_err(|e| format!("invalid base64 {text:?}: {e}"))
}

/// `k=v,k=v` attributes of a SCRAM message; the first of each key wins.
fn attribute(message: &str, key: char) -> Option<&str> {
    message.split(',').find_map(|part| {
        let mut chars = part.chars();
        (chars.next() == Some(key) && chars.next() == Some('=')).then(|| &part[2..])
    })
}

/// Before the server's first message.
pub struct ScramClient {
    password: Vec<u8>,
    nonce: String,
    first_bare: String,
}

/// After it: knows what the server must prove.
pub struct ScramVerifier {
    expected: [u8; 32],
}

impl ScramClient {
    pub fn new(user: &str, password: &[u8], nonce: String) -> Self {
        let first_bare = format!("n={},r={}", escape_user(user), nonce);
        ScramClient { password: password.to_vec(), nonce, first_bare }
    }

    /// `n,,n=<user>,r=<nonce>`: the client-first message, no channel binding.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.first_bare)
    }

    /// Takes the server-first message (`r=…,s=…,i=…`) and returns the client-final
    /// message (`c=biws,r=…,p=<proof>`) plus what checks the server's answer.
    pub fn client_final(&self, server_first: &str) -> Result<(String, ScramVerifier), ProtocolError> {
        let bad = |what: &str| {
            ProtocolError::Driver(format!(
                "Error during handshake: {what} in the server's SCRAM message {server_first:?}."
            ))
        };
        if let Some(err) = attribute(server_first, 'e') {
            return Err(ProtocolError::Auth(format!("Server rejected authentication: {err}")));
        }
        let nonce = attribute(server_first, 'r').ok_or_else(|| bad("no nonce (r=)"))?;
        if !nonce.starts_with(&self.nonce) {
            return Err(ProtocolError::Driver(format!("Invalid nonce {nonce} received from server.")));
        }
        let salt_b64 = attribute(server_first, 's').ok_or_else(|| bad("no salt (s=)"))?;
        let salt = decode_base64_lenient(salt_b64).map_err(|e| bad(&format!("a bad salt: {e}")))?;
        let iterations_text = attribute(server_first, 'i').ok_or_else(|| bad("no iteration count (i=)"))?;
        let iterations: u32 = iterations_text
            .parse()
            .ok()
            .filter(|i| (1..=MAX_ITERATIONS).contains(i))
            .ok_or_else(|| bad(&format!("an iteration count out of range 1..={MAX_ITERATIONS}")))?;

        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{},{}", self.first_bare, server_first, without_proof);
        let salted = pbkdf2_sha256(&self.password, &salt, iterations);
        let client_key = hmac_sha256(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let client_signature = hmac_sha256(&stored_key, auth_message.as_bytes());
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature.iter()) {
            *p ^= s;
        }
        let server_key = hmac_sha256(&salted, b"Server Key");
        let expected = hmac_sha256(&server_key, auth_message.as_bytes());
        let message = format!("{without_proof},p={}", STANDARD.encode(proof));
        Ok((message, ScramVerifier { expected }))
    }
}

impl std::fmt::Debug for ScramVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ScramVerifier { .. }")
    }
}

impl ScramVerifier {
    /// Checks the server-final message (`v=<signature>`). A wrong signature means the
    /// server does not know the password (or ours is wrong): an auth error, with
    /// both signatures in the message as the Ruby driver words it.
    pub fn check(&self, server_final: &str) -> Result<(), ProtocolError> {
        if let Some(err) = attribute(server_final, 'e') {
            return Err(ProtocolError::Auth(format!("Server rejected authentication: {err}")));
        }
        let claim_b64 = attribute(server_final, 'v').ok_or_else(|| {
            ProtocolError::Driver(format!(
                "Error during handshake: no server signature (v=) in the server's SCRAM message {server_final:?}."
            ))
        })?;
        let claim = decode_base64_lenient(claim_b64)
            .map_err(|e| ProtocolError::Driver(format!("Error during handshake: bad server signature: {e}")))?;
        // Lengths are public; the comparison of equal-length values is constant time.
        let equal = claim.len() == self.expected.len() && bool::from(claim.as_slice().ct_eq(&self.expected));
        if equal {
            Ok(())
        } else {
            Err(ProtocolError::Auth(format!(
                "Server signature {} does not match expected signature {}.",
                STANDARD.encode(&claim),
                STANDARD.encode(self.expected)
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn pbkdf2_known_vectors() {
        // RFC 7914 section 11 (first 32 bytes), and two computed with Python's hashlib.
        assert_eq!(
            hex(&pbkdf2_sha256(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        assert_eq!(
            hex(&pbkdf2_sha256(b"Password", b"NaCl", 80000)),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
        );
        assert_eq!(
            hex(&pbkdf2_sha256(b"", b"salt", 2)),
            "62384466264daadc4144018c6bd864648272b34da8980d31521ffcce92ae003b"
        );
    }

    const RFC_SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    #[test]
    fn rfc7677_example() {
        let client = ScramClient::new("user", b"pencil", "rOprNGfwEbeRWgbNEkqO".into());
        assert_eq!(client.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let (final_msg, verifier) = client.client_final(RFC_SERVER_FIRST).unwrap();
        assert_eq!(
            final_msg,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        verifier.check("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
    }

    #[test]
    fn wrong_password_is_an_auth_error_naming_both_signatures() {
        let client = ScramClient::new("user", b"not pencil", "rOprNGfwEbeRWgbNEkqO".into());
        let (_, verifier) = client.client_final(RFC_SERVER_FIRST).unwrap();
        let err = verifier.check("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap_err();
        assert!(err.is_auth());
        assert!(err.message().starts_with(
            "Server signature 6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4= does not match expected signature "
        ));
        // A truncated or empty claim is a mismatch too, not a crash.
        assert!(verifier.check("v=6rriTRBi").unwrap_err().is_auth());
        assert!(verifier.check("v=").unwrap_err().is_auth());
        assert!(!verifier.check("x=1").unwrap_err().is_auth());
        assert!(verifier.check("e=invalid-proof").unwrap_err().is_auth());
    }

    #[test]
    fn nonce_must_extend_ours() {
        let client = ScramClient::new("user", b"pencil", "abc".into());
        let err = client.client_final("r=xyzabc,s=AAAA,i=1").unwrap_err();
        assert_eq!(err, ProtocolError::Driver("Invalid nonce xyzabc received from server.".into()));
    }

    #[test]
    fn malformed_server_first_messages_are_driver_errors() {
        let client = ScramClient::new("u", b"p", "n".into());
        for msg in ["", "s=AAAA,i=1", "r=n1,i=1", "r=n1,s=AAAA", "r=n1,s=AAAA,i=0", "r=n1,s=AAAA,i=x", "r=n1,s=A*A,i=1"]
        {
            let err = client.client_final(msg).unwrap_err();
            assert!(!err.is_auth(), "{msg}: {err}");
        }
        let too_many = format!("r=n1,s=AAAA,i={}", MAX_ITERATIONS + 1);
        assert!(client.client_final(&too_many).unwrap_err().message().contains("iteration count"));
    }

    #[test]
    fn user_names_are_escaped() {
        assert_eq!(escape_user("a=b,c"), "a=3Db=2Cc");
        let client = ScramClient::new("a,b", b"", "N".into());
        assert_eq!(client.client_first(), "n,,n=a=2Cb,r=N");
    }

    #[test]
    fn lenient_base64() {
        assert_eq!(decode_base64_lenient("YWJj").unwrap(), b"abc");
        assert_eq!(decode_base64_lenient("YWI=").unwrap(), b"ab");
        assert_eq!(decode_base64_lenient("YWI").unwrap(), b"ab");
        assert_eq!(decode_base64_lenient("YWI====").unwrap(), b"ab");
        assert_eq!(decode_base64_lenient("YW\nI=").unwrap(), b"ab");
        assert_eq!(decode_base64_lenient("W22ZaJ0SNY7soEsUEjb6gQ====").unwrap().len(), 16);
        assert_eq!(decode_base64_lenient("YWJjZ").unwrap(), b"abc");
        assert_eq!(decode_base64_lenient("").unwrap(), b"");
        assert!(decode_base64_lenient("YW-I").is_err());
    }

    #[test]
    fn nonces_are_24_base64_characters_and_differ() {
        let a = random_nonce().unwrap();
        let b = random_nonce().unwrap();
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(!a.contains(','));
    }
}
