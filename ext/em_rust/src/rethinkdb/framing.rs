//! Frames after the handshake. Both directions use the same layout:
//!
//! ```text
//! [token: u64 LE][length: u32 LE][length bytes of JSON]
//! ```
//!
//! Queries go out with [`append_query`]. Responses come in through a
//! [`FrameDecoder`], which accepts the byte stream in chunks of any size (one byte,
//! many frames at once) and hands out whole frames in arrival order. It never
//! trusts a declared length further than its limit, and grows a payload only as
//! its bytes arrive.
use super::{excerpt, ProtocolError};
use std::collections::VecDeque;

pub const HEADER_LEN: usize = 12;

/// The default ceiling on one response's payload. A real server answers in
/// batches of about a megabyte; whole-table atoms (reqlite) can be larger, but a
/// length beyond this is taken as garbage on the wire.
pub const DEFAULT_MAX_RESPONSE_LEN: usize = 256 * 1024 * 1024;

/// How much of a payload is allocated before its bytes arrive.
const INITIAL_PAYLOAD_CAPACITY: usize = 64 * 1024;

/// Appends one query frame for `token` to `out`.
pub fn append_query(out: &mut Vec<u8>, token: u64, json: &[u8]) -> Result<(), ProtocolError> {
    let len = u32::try_from(json.len()).map_err(|_| {
        ProtocolError::Driver(format!("Query too large: {} bytes of JSON (the limit is 4 GiB).", json.len()))
    })?;
    out.reserve(HEADER_LEN + json.len());
    out.extend_from_slice(&token.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(json);
    Ok(())
}

/// One response: its query's token and the JSON payload, undecoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub token: u64,
    pub payload: Vec<u8>,
}

struct Partial {
    token: u64,
    len: usize,
    payload: Vec<u8>,
}

pub struct FrameDecoder {
    max_len: usize,
    header: [u8; HEADER_LEN],
    header_len: usize,
    partial: Option<Partial>,
    ready: VecDeque<Frame>,
    error: Option<ProtocolError>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_RESPONSE_LEN)
    }
}

impl FrameDecoder {
    pub fn new(max_len: usize) -> Self {
        FrameDecoder {
            max_len,
            header: [0; HEADER_LEN],
            header_len: 0,
            partial: None,
            ready: VecDeque::new(),
            error: None,
        }
    }

    /// Takes received bytes. Never fails by itself: a bad header is remembered and
    /// reported by [`next_frame`](Self::next_frame) after the frames before it.
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() && self.error.is_none() {
            if let Some(partial) = &mut self.partial {
                let take = (partial.len - partial.payload.len()).min(data.len());
                partial.payload.extend_from_slice(&data[..take]);
                data = &data[take..];
                if partial.payload.len() == partial.len {
                    let done = self.partial.take().expect("checked above");
                    self.ready.push_back(Frame { token: done.token, payload: done.payload });
                }
                continue;
            }
            let take = (HEADER_LEN - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == HEADER_LEN {
                self.header_len = 0;
                self.start_frame();
            }
        }
    }

    fn start_frame(&mut self) {
        let token = u64::from_le_bytes(self.header[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(self.header[8..].try_into().expect("4 bytes")) as usize;
        if len > self.max_len {
            self.error = Some(ProtocolError::Driver(format!(
                "Bad response from server: a frame for token {token} declares {len} bytes, more than the limit of {} \
                 (is the peer a RethinkDB server? frame header: {}).",
                self.max_len,
                excerpt(&self.header, HEADER_LEN)
            )));
            return;
        }
        let payload = Vec::with_capacity(len.min(INITIAL_PAYLOAD_CAPACITY));
        if len == 0 {
            self.ready.push_back(Frame { token, payload });
        } else {
            self.partial = Some(Partial { token, len, payload });
        }
    }

    /// The next whole frame, if one has arrived; then the stream's error, if any
    /// (final: it is returned from then on).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        if let Some(frame) = self.ready.pop_front() {
            return Ok(Some(frame));
        }
        match &self.error {
            Some(err) => Err(err.clone()),
            None => Ok(None),
        }
    }

    /// Whether `next_frame` would return something other than `Ok(None)`.
    pub fn has_news(&self) -> bool {
        !self.ready.is_empty() || self.error.is_some()
    }

    /// True between frames: no header or payload bytes are pending.
    pub fn at_boundary(&self) -> bool {
        self.header_len == 0 && self.partial.is_none()
    }

    /// The error for the server closing the connection now: a plain close between
    /// frames, or a truncated frame.
    pub fn eof_error(&self) -> ProtocolError {
        if let Some(err) = &self.error {
            return err.clone();
        }
        if let Some(p) = &self.partial {
            return ProtocolError::Driver(format!(
                "Connection closed by server in the middle of a response (token {}: {} of {} bytes received).",
                p.token,
                p.payload.len(),
                p.len
            ));
        }
        if self.header_len > 0 {
            return ProtocolError::Driver(format!(
                "Connection closed by server in the middle of a response header ({} of {HEADER_LEN} bytes received).",
                self.header_len
            ));
        }
        ProtocolError::Driver("Connection closed by server.".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(token: u64, json: &str) -> Vec<u8> {
        let mut out = Vec::new();
        append_query(&mut out, token, json.as_bytes()).unwrap();
        out
    }

    fn drain(d: &mut FrameDecoder) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = d.next_frame().unwrap() {
            out.push(f);
        }
        out
    }

    #[test]
    fn query_frame_layout() {
        let f = frame(0x0102030405060708, "[1]");
        assert_eq!(f, b"\x08\x07\x06\x05\x04\x03\x02\x01\x03\x00\x00\x00[1]");
    }

    #[test]
    fn frames_in_one_chunk_and_byte_by_byte() {
        let stream = [frame(1, r#"{"t":1,"r":[1]}"#), frame(7, ""), frame(u64::MAX, r#"{"t":2}"#)].concat();
        let expected = vec![
            Frame { token: 1, payload: br#"{"t":1,"r":[1]}"#.to_vec() },
            Frame { token: 7, payload: vec![] },
            Frame { token: u64::MAX, payload: br#"{"t":2}"#.to_vec() },
        ];
        let mut all = FrameDecoder::default();
        all.push(&stream);
        assert_eq!(drain(&mut all), expected);
        assert!(all.at_boundary());

        let mut bytes = FrameDecoder::default();
        let mut got = Vec::new();
        for b in &stream {
            bytes.push(std::slice::from_ref(b));
            got.extend(drain(&mut bytes));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn absurd_length_is_an_error_after_the_good_frames() {
        let mut d = FrameDecoder::new(1024);
        let mut stream = frame(1, "{}");
        stream.extend_from_slice(b"HTTP/1.1 400 Bad Request\r\n");
        d.push(&stream);
        assert_eq!(d.next_frame().unwrap().unwrap().token, 1);
        let err = d.next_frame().unwrap_err();
        assert!(err.message().starts_with("Bad response from server: a frame for token "), "{err}");
        assert!(err.message().contains("HTTP/1.1 400"), "{err}");
        // Final, and nothing more is buffered.
        d.push(&frame(2, "{}"));
        assert_eq!(d.next_frame().unwrap_err(), err);
        assert_eq!(d.eof_error(), err);
    }

    #[test]
    fn a_huge_declared_length_allocates_only_what_arrived() {
        let mut d = FrameDecoder::default();
        let mut header = 9u64.to_le_bytes().to_vec();
        header.extend_from_slice(&(DEFAULT_MAX_RESPONSE_LEN as u32).to_le_bytes());
        d.push(&header);
        d.push(b"{}");
        let p = d.partial.as_ref().unwrap();
        assert!(p.payload.capacity() <= INITIAL_PAYLOAD_CAPACITY);
        assert_eq!(
            d.eof_error().message(),
            format!("Connection closed by server in the middle of a response (token 9: 2 of {DEFAULT_MAX_RESPONSE_LEN} bytes received).")
        );
    }

    #[test]
    fn eof_messages() {
        let mut d = FrameDecoder::default();
        assert_eq!(d.eof_error().message(), "Connection closed by server.");
        d.push(&[1, 0, 0]);
        assert_eq!(
            d.eof_error().message(),
            "Connection closed by server in the middle of a response header (3 of 12 bytes received)."
        );
    }
}
