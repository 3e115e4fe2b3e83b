//! The RethinkDB wire protocol (V1_0, JSON), free of Ruby. The protocol itself is
//! sans-IO: the caller moves the bytes, these types say what to send and what
//! was received.
//!
//! - [`handshake`]: the V1_0 handshake with SCRAM-SHA-256 authentication ([`scram`]).
//! - [`framing`]: query frames out, response frames in (any chunking).
//! - [`json`]: decodes a response payload through a [`json::Builder`], so the Ruby
//!   glue builds Ruby objects directly while tests build plain Rust values.
//! - [`socket`]: the one part that does I/O: the above driven over a non-blocking
//!   TCP socket with poll(2) waits that signals interrupt (still no Ruby), over
//!   [`wire`]: plain TCP or TLS.
//!
//! Every decoder here takes arbitrary bytes from the network: bad input is an
//! error value with a message meant for the user, never a panic or an unbounded
//! allocation.
pub mod framing;
pub mod handshake;
pub mod json;
pub mod scram;
pub mod socket;
pub mod wire;

#[cfg(test)]
mod fuzz_tests;

/// A handshake or protocol failure, split the way the Ruby driver raises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// The server refused the credentials, or its proof of knowing them was wrong
    /// (`RethinkDB::ReqlAuthError`).
    Auth(String),
    /// Anything else: I/O, garbage, a broken or non-RethinkDB peer
    /// (`RethinkDB::ReqlDriverError`).
    Driver(String),
}

impl ProtocolError {
    pub fn message(&self) -> &str {
        match self {
            ProtocolError::Auth(m) | ProtocolError::Driver(m) => m,
        }
    }

    pub fn is_auth(&self) -> bool {
        matches!(self, ProtocolError::Auth(_))
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for ProtocolError {}

/// At most `max` characters of `bytes` for an error message: valid UTF-8 shown as
/// text with control characters escaped, other bytes as `\xNN`, so garbage from a
/// peer stays readable.
pub(crate) fn excerpt(bytes: &[u8], max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if shown == max {
                out.push_str("...");
                return out;
            }
            shown += 1;
            match ch {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() && (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if c.is_control() => out.extend(c.escape_unicode()),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            if shown == max {
                out.push_str("...");
                return out;
            }
            shown += 1;
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn excerpts_escape_garbage() {
        assert_eq!(super::excerpt(b"ab\x01\xff\xc3\xa9\n", 10), "ab\\x01\\xffé\\n");
        assert_eq!(super::excerpt(b"abcdef", 3), "abc...");
    }
}
