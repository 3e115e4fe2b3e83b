//! Random and mangled input for every decoder that reads from the network: random
//! bytes, valid transcripts cut short, with bytes flipped, inserted or dropped, in
//! random chunkings. The assertion is that nothing panics, nothing hangs, memory
//! stays proportional to the input, and valid input still decodes the same
//! however it is chunked. Seeded, so a failure reproduces; `EM_RUST_FUZZ_ROUNDS`
//! scales the rounds.
use super::framing::{append_query, Frame, FrameDecoder, HEADER_LEN};
use super::handshake::tests::{new_handshake, server_script_with};
use super::handshake::Handshake;
use super::json::{decode, TreeBuilder};
use std::cell::Cell;

/// xorshift64*: small, seeded, good enough to pick bytes and cut points.
struct Rng(Cell<u64>);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(Cell::new(seed))
    }
    fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    fn bytes(&self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Splits `data` into random chunks (sizes 1..=max).
    fn chunks<'a>(&self, data: &'a [u8], max: usize) -> Vec<&'a [u8]> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = 1 + self.below(max.min(rest.len()));
            out.push(&rest[..n]);
            rest = &rest[n..];
        }
        out
    }
    /// One random edit: truncate, flip, insert, delete or duplicate a span.
    fn mangle(&self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        let at = self.below(out.len() + 1);
        match self.below(6) {
            0 => out.truncate(at),
            1 if !out.is_empty() => {
                let i = self.below(out.len());
                out[i] ^= 1 << self.below(8);
            }
            2 => {
                let junk = self.bytes(1 + self.below(8));
                out.splice(at..at, junk);
            }
            3 => {
                let end = (at + 1 + self.below(8)).min(out.len());
                out.drain(at..end);
            }
            4 => {
                let end = (at + self.below(16)).min(out.len());
                let span = out[at..end].to_vec();
                out.splice(at..at, span);
            }
            _ => {
                let i = self.below(out.len().max(1));
                if i < out.len() {
                    out[i] = [0u8, b'"', b'{', b'}', b',', b'=', 0xff][self.below(7)];
                }
            }
        }
        out
    }
}

fn rounds(default: usize) -> usize {
    std::env::var("EM_RUST_FUZZ_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A cheap server-first (2 PBKDF2 rounds) so thousands of handshakes stay fast.
const CHEAP_SERVER_FIRST: &str = "r=rOprNGfwEbeRWgbNEkqOsrv,s=c2FsdHNhbHQ=,i=2";

/// Feeds `input` in random chunks; returns whether the handshake finished.
fn run_handshake(rng: &Rng, hs: &mut Handshake, input: &[u8]) -> bool {
    for chunk in rng.chunks(input, 64) {
        match hs.feed(chunk) {
            Ok(p) if p.done => return true,
            Ok(_) => {}
            Err(err) => {
                assert!(!err.message().is_empty());
                assert_eq!(hs.feed(b"x").unwrap_err(), err, "errors are final");
                return false;
            }
        }
    }
    let _ = hs.eof_error().message().len();
    hs.is_done()
}

#[test]
fn handshake_random_bytes() {
    let rng = Rng::new(0x5eed_0001);
    for _ in 0..rounds(5_000) {
        let len = rng.below(300);
        let mut input = rng.bytes(len);
        // Some NULs early on so messages end and get parsed.
        for _ in 0..rng.below(4) {
            let i = rng.below(input.len().max(1));
            if i < input.len() {
                input[i] = 0;
            }
        }
        let mut hs = new_handshake(b"pw");
        assert!(!run_handshake(&rng, &mut hs, &input), "random bytes completed a handshake");
    }
}

#[test]
fn handshake_mangled_transcripts() {
    let rng = Rng::new(0x5eed_0002);
    let script = server_script_with(b"pw", CHEAP_SERVER_FIRST).concat();
    let mut hs = new_handshake(b"pw");
    assert!(run_handshake(&rng, &mut hs, &script), "the unmangled script completes");
    let mut completed = 0;
    for _ in 0..rounds(5_000) {
        let mut input = rng.mangle(&script);
        if rng.below(4) == 0 {
            input = rng.mangle(&input);
        }
        let mut hs = new_handshake(b"pw");
        if run_handshake(&rng, &mut hs, &input) {
            completed += 1;
        }
    }
    // Edits in ignored JSON (e.g. "server_version") may leave a valid exchange.
    assert!(completed < rounds(5_000));
}

#[test]
fn handshake_wrong_password_is_always_auth() {
    let rng = Rng::new(0x5eed_0003);
    let script = server_script_with(b"right", CHEAP_SERVER_FIRST).concat();
    for _ in 0..200 {
        let mut hs = new_handshake(b"wrong");
        let mut err = None;
        for chunk in rng.chunks(&script, 40) {
            if let Err(e) = hs.feed(chunk) {
                err = Some(e);
                break;
            }
        }
        assert!(err.expect("a wrong password fails").is_auth());
    }
}

#[test]
fn frame_decoder_random_bytes() {
    let rng = Rng::new(0x5eed_0004);
    for _ in 0..rounds(20_000) {
        let max = [0usize, 1, 16, 1024, 1 << 20][rng.below(5)];
        let input = rng.bytes(rng.below(512));
        let mut d = FrameDecoder::new(max);
        let mut payload_bytes = 0;
        for chunk in rng.chunks(&input, 100) {
            d.push(chunk);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => {
                        assert!(f.payload.len() <= max);
                        payload_bytes += f.payload.len() + HEADER_LEN;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        assert!(e.message().contains("Bad response from server"));
                        break;
                    }
                }
            }
        }
        assert!(payload_bytes <= input.len());
        let _ = d.eof_error();
    }
}

#[test]
fn frame_decoder_chunking_does_not_matter() {
    let rng = Rng::new(0x5eed_0005);
    for _ in 0..rounds(2_000) {
        let frames: Vec<Frame> =
            (0..1 + rng.below(6)).map(|_| Frame { token: rng.next(), payload: rng.bytes(rng.below(200)) }).collect();
        let mut stream = Vec::new();
        for f in &frames {
            append_query(&mut stream, f.token, &f.payload).unwrap();
        }
        let mut d = FrameDecoder::new(200);
        let mut got = Vec::new();
        for chunk in rng.chunks(&stream, 1 + rng.below(300)) {
            d.push(chunk);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(d.at_boundary());
        // Cut short anywhere inside the stream: a truncation error, never a frame too many.
        let cut = rng.below(stream.len());
        let mut d = FrameDecoder::new(200);
        d.push(&stream[..cut]);
        let mut n = 0;
        while d.next_frame().unwrap().is_some() {
            n += 1;
        }
        assert!(n <= frames.len());
        let msg = d.eof_error();
        assert!(msg.message().starts_with("Connection closed by server"), "{msg}");
    }
}

#[test]
fn json_random_and_mangled() {
    let rng = Rng::new(0x5eed_0006);
    let samples: [&[u8]; 4] = [
        br#"{"t":1,"r":[{"id":1,"name":"a\u00e9"}],"n":[]}"#,
        br#"{"t":3,"r":[0,1,2,3,4,5,6,7,8,9],"n":[],"p":null}"#,
        br#"{"t":18,"r":["Table `test.x` does not exist"],"b":[0,"index"],"e":4100000}"#,
        br#"{"t":1,"r":[{"$reql_type$":"TIME","epoch_time":1.5e9,"timezone":"+00:00"}]}"#,
    ];
    for _ in 0..rounds(20_000) {
        let input = if rng.below(3) == 0 {
            rng.bytes(rng.below(64))
        } else {
            let mut m = rng.mangle(samples[rng.below(samples.len())]);
            if rng.below(2) == 0 {
                m = rng.mangle(&m);
            }
            m
        };
        let ours = decode(&input, &mut TreeBuilder);
        let reference = serde_json::from_slice::<serde_json::Value>(&input);
        assert_eq!(ours.is_ok(), reference.is_ok(), "{:?}", String::from_utf8_lossy(&input));
        if let (Ok(a), Ok(b)) = (ours, reference) {
            assert_eq!(a, b);
        }
    }
}
