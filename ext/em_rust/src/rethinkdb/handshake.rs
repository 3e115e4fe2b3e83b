//! The V1_0 handshake as a state machine: [`Handshake::start`] gives the first
//! bytes to send (magic number and client-first message, sent together without
//! waiting); [`Handshake::feed`] takes whatever arrived and says what to send next
//! and whether the connection is ready for queries.
//!
//! ```text
//! C: 0x34c2bdc3 (u32 LE) {"protocol_version":0,"authentication_method":"SCRAM-SHA-256","authentication":"n,,n=<user>,r=<cnonce>"}\0
//! S: {"success":true,"min_protocol_version":0,"max_protocol_version":0,...}\0
//! S: {"success":true,"authentication":"r=<cnonce+snonce>,s=<salt>,i=<iterations>"}\0
//! C: {"authentication":"c=biws,r=<cnonce+snonce>,p=<proof>"}\0
//! S: {"success":true,"authentication":"v=<server signature>"}\0
//! ```
use super::scram::{random_nonce, ScramClient, ScramVerifier};
use super::{excerpt, ProtocolError};
use serde_json::{json, Map, Value};

/// `VersionDummy::Version::V1_0`.
pub const V1_0: u32 = 0x34c2_bdc3;
/// The JSON protocol version the client speaks.
pub const PROTOCOL_VERSION: i64 = 0;
/// A server message longer than this without its NUL terminator is garbage.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    AwaitVersion,
    AwaitServerFirst,
    AwaitServerFinal,
    Done,
    Failed,
}

impl Stage {
    fn awaiting(self) -> &'static str {
        match self {
            Stage::AwaitVersion => "the server's protocol version",
            Stage::AwaitServerFirst => "the server's SCRAM challenge",
            Stage::AwaitServerFinal => "the server's SCRAM signature",
            Stage::Done | Stage::Failed => "nothing",
        }
    }
}

/// What to do after feeding received bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes to send to the server now (possibly empty).
    pub send: Vec<u8>,
    /// The handshake succeeded: the connection now carries query frames.
    pub done: bool,
}

pub struct Handshake {
    stage: Stage,
    client: ScramClient,
    verifier: Option<ScramVerifier>,
    /// Received bytes not yet consumed as a message.
    inbuf: Vec<u8>,
    error: Option<ProtocolError>,
}

impl Handshake {
    /// A handshake with a fresh random nonce, and the bytes to send first.
    pub fn start(user: &str, password: &[u8]) -> Result<(Handshake, Vec<u8>), ProtocolError> {
        Ok(Self::with_nonce(user, password, random_nonce()?))
    }

    /// As [`Handshake::start`] with a given client nonce (tests, known vectors).
    pub fn with_nonce(user: &str, password: &[u8], nonce: String) -> (Handshake, Vec<u8>) {
        let client = ScramClient::new(user, password, nonce);
        let first = json!({
            "protocol_version": PROTOCOL_VERSION,
            "authentication_method": "SCRAM-SHA-256",
            "authentication": client.client_first(),
        });
        let mut out = V1_0.to_le_bytes().to_vec();
        push_message(&mut out, &first);
        let hs = Handshake { stage: Stage::AwaitVersion, client, verifier: None, inbuf: Vec::new(), error: None };
        (hs, out)
    }

    pub fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// What the handshake waits for, for timeout messages ("the server's SCRAM challenge").
    pub fn awaiting(&self) -> &'static str {
        self.stage.awaiting()
    }

    /// Consumes received bytes. Every complete server message in them is handled;
    /// an error is final (later calls return it again).
    pub fn feed(&mut self, data: &[u8]) -> Result<Progress, ProtocolError> {
        if let Some(err) = &self.error {
            return Err(err.clone());
        }
        if self.stage == Stage::Done {
            // Bytes after the handshake belong to the frame decoder.
            self.inbuf.extend_from_slice(data);
            return Ok(Progress { send: Vec::new(), done: true });
        }
        self.inbuf.extend_from_slice(data);
        match self.consume() {
            Ok(progress) => Ok(progress),
            Err(err) => {
                self.stage = Stage::Failed;
                self.error = Some(err.clone());
                Err(err)
            }
        }
    }

    fn consume(&mut self) -> Result<Progress, ProtocolError> {
        let mut progress = Progress::default();
        let mut start = 0;
        while self.stage != Stage::Done {
            let Some(nul) = self.inbuf[start..].iter().position(|&b| b == 0) else {
                if self.inbuf.len() - start > MAX_MESSAGE_LEN {
                    return Err(ProtocolError::Driver(format!(
                        "Handshake error: the server sent more than {MAX_MESSAGE_LEN} bytes without ending its message \
                         (is it a RethinkDB server?): {}",
                        excerpt(&self.inbuf[start..], 80)
                    )));
                }
                break;
            };
            let end = start + nul;
            let message = parse_message(&self.inbuf[start..end])?;
            start = end + 1;
            self.handle(&message, &mut progress.send)?;
        }
        self.inbuf.drain(..start);
        progress.done = self.stage == Stage::Done;
        Ok(progress)
    }

    fn handle(&mut self, message: &Map<String, Value>, send: &mut Vec<u8>) -> Result<(), ProtocolError> {
        match self.stage {
            Stage::AwaitVersion => {
                let min = message.get("min_protocol_version").and_then(Value::as_i64);
                let max = message.get("max_protocol_version").and_then(Value::as_i64);
                let (Some(min), Some(max)) = (min, max) else {
                    return Err(ProtocolError::Driver(format!(
                        "Handshake error: no protocol version range in the server's answer ({}).",
                        Value::Object(message.clone())
                    )));
                };
                if min > PROTOCOL_VERSION || max < PROTOCOL_VERSION {
                    return Err(ProtocolError::Driver(format!(
                        "Version mismatch: Driver uses {PROTOCOL_VERSION} but server accepts [{min}, {max}]."
                    )));
                }
                self.stage = Stage::AwaitServerFirst;
            }
            Stage::AwaitServerFirst => {
                let server_first = authentication(message)?;
                let (client_final, verifier) = self.client.client_final(server_first)?;
                push_message(send, &json!({ "authentication": client_final }));
                self.verifier = Some(verifier);
                self.stage = Stage::AwaitServerFinal;
            }
            Stage::AwaitServerFinal => {
                let server_final = authentication(message)?;
                self.verifier.as_ref().expect("set with the previous stage").check(server_final)?;
                self.stage = Stage::Done;
            }
            Stage::Done | Stage::Failed => unreachable!("no messages are handled after the handshake"),
        }
        Ok(())
    }

    /// Bytes received after the handshake's last message: the start of the first
    /// response frame, if the server was quick. Empties the buffer.
    pub fn take_rest(&mut self) -> Vec<u8> {
        if self.stage == Stage::Done {
            std::mem::take(&mut self.inbuf)
        } else {
            Vec::new()
        }
    }

    /// The error for the server closing the connection now.
    pub fn eof_error(&self) -> ProtocolError {
        if let Some(err) = &self.error {
            return err.clone();
        }
        let partial = if self.inbuf.is_empty() {
            String::new()
        } else {
            format!(", after an unterminated message: {}", excerpt(&self.inbuf, 80))
        };
        ProtocolError::Driver(format!(
            "Connection closed by server during the handshake (waiting for {}{partial}).",
            self.stage.awaiting()
        ))
    }
}

fn push_message(out: &mut Vec<u8>, message: &Value) {
    out.extend_from_slice(message.to_string().as_bytes());
    out.push(0);
}

/// One NUL-terminated server message: a JSON object with `"success": true`, or the
/// server's refusal as an error (auth error codes 10..=20 as in the Ruby driver).
fn parse_message(bytes: &[u8]) -> Result<Map<String, Value>, ProtocolError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|_| {
        // Servers before 2.3 answer a protocol they do not know with plain text.
        ProtocolError::Driver(format!(
            "Handshake error: the server's answer is not JSON (is it a RethinkDB 2.3+ server?): {}",
            excerpt(bytes, 120)
        ))
    })?;
    let Value::Object(map) = value else {
        return Err(ProtocolError::Driver(format!(
            "Handshake error: the server's answer is not a JSON object: {}",
            excerpt(bytes, 120)
        )));
    };
    if map.get("success") == Some(&Value::Bool(true)) {
        return Ok(map);
    }
    let code = map.get("error_code").and_then(Value::as_i64);
    let error = map.get("error").and_then(Value::as_str).filter(|e| !e.is_empty());
    let whole = format!("Handshake error ({}).", Value::Object(map.clone()));
    match (code, error) {
        (Some(10..=20), Some(error)) => Err(ProtocolError::Auth(error.to_string())),
        (Some(10..=20), None) => Err(ProtocolError::Auth(whole)),
        _ => Err(ProtocolError::Driver(whole)),
    }
}

fn authentication(message: &Map<String, Value>) -> Result<&str, ProtocolError> {
    message.get("authentication").and_then(Value::as_str).ok_or_else(|| {
        ProtocolError::Driver(format!(
            "Handshake error: no authentication field in the server's answer ({}).",
            Value::Object(message.clone())
        ))
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rethinkdb::scram::{hmac_sha256, pbkdf2_sha256};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    pub(crate) const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    fn msg(v: Value) -> Vec<u8> {
        let mut out = Vec::new();
        push_message(&mut out, &v);
        out
    }

    /// What a server knowing `password` sends, in order, for the RFC 7677 exchange
    /// with user "user" (the server-final depends on the client's messages only).
    pub(crate) fn server_script(password: &[u8]) -> Vec<Vec<u8>> {
        server_script_with(password, SERVER_FIRST)
    }

    /// The same for any server-first message whose nonce extends `NONCE`.
    pub(crate) fn server_script_with(password: &[u8], server_first: &str) -> Vec<Vec<u8>> {
        let field = |k: &str| server_first.split(',').find_map(|p| p.strip_prefix(k)).unwrap().to_string();
        let salt = STANDARD.decode(field("s=")).unwrap();
        let salted = pbkdf2_sha256(password, &salt, field("i=").parse().unwrap());
        let auth_message = format!("n=user,r={NONCE},{server_first},c=biws,r={}", field("r="));
        let signature = hmac_sha256(&hmac_sha256(&salted, b"Server Key"), auth_message.as_bytes());
        vec![
            msg(
                json!({"success": true, "min_protocol_version": 0, "max_protocol_version": 0, "server_version": "2.4.0"}),
            ),
            msg(json!({"success": true, "authentication": server_first})),
            msg(json!({"success": true, "authentication": format!("v={}", STANDARD.encode(signature))})),
        ]
    }

    pub(crate) fn new_handshake(password: &[u8]) -> Handshake {
        Handshake::with_nonce("user", password, NONCE.into()).0
    }

    #[test]
    fn first_bytes_are_magic_and_client_first() {
        let (_, out) = Handshake::with_nonce("user", b"pencil", NONCE.into());
        assert_eq!(&out[..4], &[0xc3, 0xbd, 0xc2, 0x34]);
        assert_eq!(*out.last().unwrap(), 0);
        let first: Value = serde_json::from_slice(&out[4..out.len() - 1]).unwrap();
        assert_eq!(
            first,
            json!({"protocol_version": 0, "authentication_method": "SCRAM-SHA-256", "authentication": "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"})
        );
    }

    #[test]
    fn full_exchange_message_by_message() {
        let mut hs = new_handshake(b"pencil");
        let script = server_script(b"pencil");
        assert_eq!(hs.feed(&script[0]).unwrap(), Progress::default());
        let p = hs.feed(&script[1]).unwrap();
        assert!(!p.done);
        let sent: Value = serde_json::from_slice(&p.send[..p.send.len() - 1]).unwrap();
        assert_eq!(
            sent["authentication"],
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let p = hs.feed(&script[2]).unwrap();
        assert!(p.done && p.send.is_empty() && hs.is_done());
    }

    #[test]
    fn byte_by_byte_and_all_at_once_agree() {
        let script = server_script(b"pencil").concat();
        let mut one = new_handshake(b"pencil");
        let mut sent = Vec::new();
        for b in &script {
            let p = one.feed(std::slice::from_ref(b)).unwrap();
            sent.extend(p.send);
        }
        assert!(one.is_done());
        let mut all = new_handshake(b"pencil");
        let p = all.feed(&script).unwrap();
        assert!(p.done);
        assert_eq!(p.send, sent);
    }

    #[test]
    fn bytes_after_the_handshake_are_kept() {
        let mut script = server_script(b"pencil").concat();
        script.extend_from_slice(b"\x01\x00\x00\x00\x00\x00\x00\x00");
        let mut hs = new_handshake(b"pencil");
        assert!(hs.feed(&script).unwrap().done);
        hs.feed(b"more").unwrap();
        assert_eq!(hs.take_rest(), b"\x01\x00\x00\x00\x00\x00\x00\x00more");
    }

    #[test]
    fn wrong_password_is_an_auth_error() {
        let mut hs = new_handshake(b"wrong");
        let err = hs.feed(&server_script(b"pencil").concat()).unwrap_err();
        assert!(err.is_auth(), "{err}");
        assert!(err.message().starts_with("Server signature "), "{err}");
        // Final: the same error again.
        assert_eq!(hs.feed(b"").unwrap_err(), err);
        assert_eq!(hs.eof_error(), err);
    }

    #[test]
    fn server_refusals() {
        let mut hs = new_handshake(b"p");
        let err = hs.feed(&msg(json!({"success": false, "error": "Wrong password", "error_code": 12}))).unwrap_err();
        assert_eq!(err, ProtocolError::Auth("Wrong password".into()));

        let mut hs = new_handshake(b"p");
        let err = hs.feed(&msg(json!({"success": false, "error": "boom", "error_code": 3}))).unwrap_err();
        assert!(!err.is_auth());
        assert!(err.message().starts_with("Handshake error ({"), "{err}");
    }

    #[test]
    fn version_mismatch() {
        let mut hs = new_handshake(b"p");
        let err =
            hs.feed(&msg(json!({"success": true, "min_protocol_version": 1, "max_protocol_version": 2}))).unwrap_err();
        assert_eq!(err, ProtocolError::Driver("Version mismatch: Driver uses 0 but server accepts [1, 2].".into()));
    }

    #[test]
    fn old_servers_and_garbage() {
        let mut hs = new_handshake(b"p");
        let err = hs.feed(b"ERROR: Received an unsupported protocol version.\n\0").unwrap_err();
        assert!(err.message().contains("not JSON"), "{err}");
        assert!(err.message().contains("ERROR: Received an unsupported protocol version.\\n"), "{err}");

        let mut hs = new_handshake(b"p");
        let err = hs.feed(&vec![b'x'; MAX_MESSAGE_LEN + 1]).unwrap_err();
        assert!(err.message().contains("without ending its message"), "{err}");

        let mut hs = new_handshake(b"p");
        assert!(hs.feed(b"[1,2]\0").unwrap_err().message().contains("not a JSON object"));
    }

    #[test]
    fn eof_messages_say_what_was_awaited() {
        let mut hs = new_handshake(b"pencil");
        assert_eq!(
            hs.eof_error().message(),
            "Connection closed by server during the handshake (waiting for the server's protocol version)."
        );
        let script = server_script(b"pencil");
        hs.feed(&script[0]).unwrap();
        hs.feed(&script[1][..10]).unwrap();
        let err = hs.eof_error();
        assert!(err.message().contains("SCRAM challenge, after an unterminated message: {\"authenti"), "{err}");
    }

    #[test]
    fn a_bad_nonce_from_the_server_is_rejected() {
        let mut hs = new_handshake(b"pencil");
        let script = server_script(b"pencil");
        hs.feed(&script[0]).unwrap();
        let err = hs.feed(&msg(json!({"success": true, "authentication": "r=other,s=AAAA,i=1"}))).unwrap_err();
        assert_eq!(err.message(), "Invalid nonce other received from server.");
    }
}
