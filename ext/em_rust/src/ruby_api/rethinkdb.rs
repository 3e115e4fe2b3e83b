//! `RethinkDB::Native::Socket`: a connected, authenticated RethinkDB connection
//! for the synchronous client. It waits in poll(2) without the GVL, interruptible
//! like Ruby's own socket reads, and builds the response JSON straight into Ruby
//! objects.
//!
//! ```ruby
//! s = RethinkDB::Native::Socket.connect(host, port, user, password, timeout_secs_or_nil)
//! s.send_query(token, json_string)          # => nil, once the frame is on the wire
//! s.read_response(timeout_secs_or_nil)      # => [token, response] or nil on timeout
//! s.close; s.closed?; s.local_port
//! s.auto_continue(token, true|false)       # em_run streams: see below
//! s.poll_response(seconds)                  # busy-polls for an awaited response
//! ```
//!
//! With `auto_continue(token, true)`, each SUCCESS_PARTIAL response for `token`
//! gets its CONTINUE sent the moment the frame is read, before Ruby sees the
//! rows, so the server makes the next batch while the handler takes this one;
//! `read_response` then returns `[token, response, true]`. Any other response
//! type (or `auto_continue(token, false)`, e.g. with a STOP) ends it.
//!
//! `poll_response(seconds)` reads like `read_response(0)`, but while such a
//! CONTINUE awaits its answer it keeps trying (non-blocking reads, GVL held) for
//! up to `seconds`: the reactor then takes the next batch without going to sleep
//! and being woken, which costs more than the wait on loaded or virtualised hosts.
//!
//! Thread safety: every method may be called from any Ruby thread, concurrently.
//! - Writes are serialized: a frame is never interleaved with another, and frames
//!   go out in the order their `send_query` calls queued them. If a sender is
//!   interrupted (Thread#raise, Ctrl-C) while its frame waits for socket space,
//!   the frame stays queued and goes out ahead of the next one sent.
//! - Each response frame is returned by exactly one `read_response` call, whole,
//!   in arrival order. With several readers it is unspecified which one gets which
//!   frame: routing responses to their tokens' waiters is the caller's job.
//! - `close` wakes blocked callers; they raise `ReqlDriverError "Connection is closed."`.
//! - The first I/O or protocol error (EOF, garbage, a truncated frame, an absurd
//!   length, invalid JSON) closes the socket; that call and every later one raise
//!   `ReqlDriverError` with the error's message.
//!
//! The socket work itself is `crate::rethinkdb::socket` (no Ruby); this file
//! converts arguments, releases the GVL around its waits, builds Ruby objects and
//! raises.
use super::{errors, gvl};
use crate::rethinkdb::framing::{append_query, Frame};
use crate::rethinkdb::json::{self, Builder};
use crate::rethinkdb::socket::{Conn, Establish, Pumped, Waited};
use crate::rethinkdb::wire::TlsOptions;
use crate::rethinkdb::{excerpt, ProtocolError};
use magnus::rb_sys::FromRawValue;
use magnus::{function, method, prelude::*, Error, RHash, RString, Ruby, TryConvert, Value};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// JSON straight into Ruby objects

/// Builds Ruby values with the C API: nothing here can raise (short of NoMemoryError)
/// or run Ruby code. Every value is either in a container or on the decoder's
/// stack frame while the next one is allocated, so GC sees them all.
struct RubyBuilder {
    utf8: *mut rb_sys::rb_encoding,
}

impl Builder for RubyBuilder {
    type Value = rb_sys::VALUE;
    type Key = rb_sys::VALUE;

    fn null(&mut self) -> rb_sys::VALUE {
        rb_sys::Qnil as rb_sys::VALUE
    }
    fn boolean(&mut self, b: bool) -> rb_sys::VALUE {
        (if b { rb_sys::Qtrue } else { rb_sys::Qfalse }) as rb_sys::VALUE
    }
    fn int(&mut self, i: i64) -> rb_sys::VALUE {
        // SAFETY: called with the GVL held (decode_frame); rb_ll2inum only allocates, runs no Ruby code.
        unsafe { rb_sys::rb_ll2inum(i) }
    }
    fn uint(&mut self, u: u64) -> rb_sys::VALUE {
        // SAFETY: called with the GVL held (decode_frame); rb_ull2inum only allocates, runs no Ruby code.
        unsafe { rb_sys::rb_ull2inum(u) }
    }
    fn float(&mut self, f: f64) -> rb_sys::VALUE {
        // SAFETY: called with the GVL held (decode_frame); rb_float_new only allocates, runs no Ruby code.
        unsafe { rb_sys::rb_float_new(f) }
    }
    fn string(&mut self, s: &str) -> rb_sys::VALUE {
        // SAFETY: GVL held; `s` is valid UTF-8 of `s.len()` bytes, copied into the new String.
        unsafe { rb_sys::rb_utf8_str_new(s.as_ptr().cast(), s.len() as _) }
    }
    fn array(&mut self) -> rb_sys::VALUE {
        // SAFETY: called with the GVL held (decode_frame); rb_ary_new only allocates, runs no Ruby code.
        unsafe { rb_sys::rb_ary_new() }
    }
    fn push(&mut self, array: &mut rb_sys::VALUE, item: rb_sys::VALUE) {
        // SAFETY: GVL held; `*array` is an Array this builder made, still on the decoder's stack where GC sees it.
        unsafe { rb_sys::rb_ary_push(*array, item) };
    }
    fn object(&mut self) -> rb_sys::VALUE {
        // SAFETY: called with the GVL held (decode_frame); rb_hash_new only allocates, runs no Ruby code.
        unsafe { rb_sys::rb_hash_new() }
    }
    /// Keys are interned frozen strings, as Hash#[]= would make them anyway.
    fn key(&mut self, s: &str) -> rb_sys::VALUE {
        // SAFETY: GVL held; `s` is `s.len()` bytes of UTF-8 and `self.utf8` is Ruby's UTF-8 encoding.
        unsafe { rb_sys::rb_enc_interned_str(s.as_ptr().cast(), s.len() as _, self.utf8) }
    }
    fn insert(&mut self, object: &mut rb_sys::VALUE, key: rb_sys::VALUE, value: rb_sys::VALUE) {
        // SAFETY: GVL held; `*object` is a Hash this builder made and `key` a String, so aset runs no Ruby code.
        unsafe { rb_sys::rb_hash_aset(*object, key, value) };
    }
}

/// The decoded response.
fn decode_frame(frame: &Frame) -> Result<Value, String> {
    // SAFETY: rb_utf8_encoding returns Ruby's static UTF-8 encoding; the GVL is held.
    let mut builder = RubyBuilder { utf8: unsafe { rb_sys::rb_utf8_encoding() } };
    let response = json::decode(&frame.payload, &mut builder)?;
    // SAFETY: `response` is a live VALUE the builder just made, still on this stack frame.
    Ok(unsafe { Value::from_raw(response) })
}

/// ql2's Response.ResponseType.SUCCESS_PARTIAL and the body of a CONTINUE query.
const SUCCESS_PARTIAL: i64 = 3;
const CONTINUE_QUERY: &[u8] = b"[2]";

fn is_partial(response: Value) -> bool {
    RHash::from_value(response).and_then(|hash| hash.get("t")).and_then(|t| i64::try_convert(t).ok())
        == Some(SUCCESS_PARTIAL)
}

// ---------------------------------------------------------------------------
// The Ruby object

#[derive(Default)]
struct AutoContinue {
    tokens: HashSet<u64>,
    awaiting: HashSet<u64>,
}

enum State {
    Open(Arc<Conn>),
    Closed,
    Failed(ProtocolError),
}

#[magnus::wrap(class = "RethinkDB::Native::Socket", free_immediately, size)]
pub struct Socket {
    state: Mutex<State>,
    local_port: u16,
    /// Tokens whose partial responses are continued as soon as they are read,
    /// and those of them whose CONTINUE awaits its response.
    auto_continue: Mutex<AutoContinue>,
}

fn raise(ruby: &Ruby, err: &ProtocolError) -> Error {
    errors::reql(ruby, err)
}

fn closed_error() -> ProtocolError {
    ProtocolError::Driver("Connection is closed.".into())
}

/// A timeout argument: nil (or Infinity, or one too large for the clock) waits
/// forever; zero or negative means "don't wait".
fn timeout_arg(ruby: &Ruby, timeout: Option<f64>) -> Result<Option<Duration>, Error> {
    match timeout {
        Some(secs) if secs.is_nan() => {
            Err(Error::new(ruby.exception_arg_error(), "timeout must be a number of seconds, not NaN"))
        }
        Some(secs) => Ok(Duration::try_from_secs_f64(secs.max(0.0)).ok()),
        None => Ok(None),
    }
}

impl Socket {
    /// `Socket.connect(host, port, user, password, timeout_secs_or_nil)`: resolves,
    /// connects and authenticates, all without the GVL, within one timeout.
    fn connect(
        ruby: &Ruby,
        host: String,
        port: u16,
        user: String,
        password: RString,
        timeout: Option<f64>,
    ) -> Result<Socket, Error> {
        Self::establish(ruby, host, port, user, password, timeout, None)
    }

    /// `connect` over TLS: `ca_file` a path to the CA certificates (PEM), or
    /// true for the system's CA store.
    fn connect_tls(
        ruby: &Ruby,
        host: String,
        port: u16,
        user: String,
        password: RString,
        timeout: Option<f64>,
        ca_file: Value,
    ) -> Result<Socket, Error> {
        let ca_file = if ca_file.is_kind_of(ruby.class_string()) {
            Some(String::try_convert(ca_file)?)
        } else if ca_file.to_bool() {
            None
        } else {
            return Err(Error::new(ruby.exception_arg_error(), "connect_tls: ca_file must be a path or true"));
        };
        Self::establish(ruby, host, port, user, password, timeout, Some(TlsOptions { ca_file }))
    }

    fn establish(
        ruby: &Ruby,
        host: String,
        port: u16,
        user: String,
        password: RString,
        timeout: Option<f64>,
        tls: Option<TlsOptions>,
    ) -> Result<Socket, Error> {
        let timeout = timeout_arg(ruby, timeout)?;
        // Copied while the GVL is held.
        // SAFETY: the bytes are copied (to_vec) at once, with the GVL held and no Ruby code running.
        let password = unsafe { password.as_slice() }.to_vec();
        let mut establish = Establish::new(host, port, user, password, timeout, tls);
        loop {
            match gvl::without_gvl_io(|| establish.run()) {
                Some(Waited::Got(conn)) => {
                    let local_port = conn.local_port();
                    return Ok(Socket {
                        state: Mutex::new(State::Open(Arc::new(conn))),
                        local_port,
                        auto_continue: Mutex::new(AutoContinue::default()),
                    });
                }
                Some(Waited::Failed(err)) => return Err(raise(ruby, &err)),
                // An exception here drops `establish`, closing the half-made socket.
                Some(Waited::Interrupted) | Some(Waited::TimedOut) | None => gvl::check_interrupts()?,
            }
        }
    }

    fn conn(&self) -> Result<Arc<Conn>, ProtocolError> {
        match &*lock(&self.state) {
            State::Open(conn) => Ok(conn.clone()),
            State::Closed => Err(closed_error()),
            State::Failed(err) => Err(err.clone()),
        }
    }

    /// Records the first failure and shuts the connection down. Returns the error to
    /// raise: after `close`, the EOF it caused reads as "Connection is closed.".
    fn fail(&self, err: ProtocolError) -> ProtocolError {
        let mut state = lock(&self.state);
        match &*state {
            State::Open(conn) => {
                conn.shutdown();
                *state = State::Failed(err.clone());
                err
            }
            State::Closed => closed_error(),
            State::Failed(first) => first.clone(),
        }
    }

    /// `#send_query(token, json)`: sends one query frame; returns nil once it is
    /// written to the socket (waiting without the GVL while the socket is full).
    fn send_query(ruby: &Ruby, rb_self: &Self, token: u64, json: RString) -> Result<(), Error> {
        let conn = rb_self.conn().map_err(|e| raise(ruby, &e))?;
        // Copied while the GVL is held: the String may change once it is released.
        // SAFETY: send_frame copies `json` into a frame before it releases the GVL or runs Ruby code.
        rb_self.send_frame(ruby, &conn, token, unsafe { json.as_slice() })
    }

    /// Sends one query frame (a copy of `json`), waiting without the GVL while
    /// the socket is full.
    fn send_frame(&self, ruby: &Ruby, conn: &Conn, token: u64, json: &[u8]) -> Result<(), Error> {
        let mut frame = Vec::new();
        append_query(&mut frame, token, json).map_err(|e| raise(ruby, &e))?;
        let target = match conn.enqueue(&frame) {
            Ok((_, true)) => return Ok(()),
            Ok((target, false)) => target,
            Err(err) => return Err(raise(ruby, &self.fail(err))),
        };
        drop(frame);
        loop {
            match gvl::without_gvl_io(|| conn.wait_sent(target)) {
                Some(Waited::Got(())) => return Ok(()),
                Some(Waited::Failed(err)) => return Err(raise(ruby, &self.fail(err))),
                Some(Waited::Interrupted) | Some(Waited::TimedOut) | None => gvl::check_interrupts()?,
            }
        }
    }

    /// `#read_response(timeout_secs_or_nil)`: the next response as `[token, value]`
    /// (`[token, value, true]` if its CONTINUE went out), or nil if none arrived
    /// within the timeout.
    fn read_response(ruby: &Ruby, rb_self: &Self, timeout: Option<f64>) -> Result<Option<Value>, Error> {
        let deadline = timeout_arg(ruby, timeout)?.and_then(|t| Instant::now().checked_add(t));
        let conn = rb_self.conn().map_err(|e| raise(ruby, &e))?;
        // With the GVL: a buffered frame, or what one read brings.
        let frame = match conn.pump(1) {
            Pumped::Frame(frame) => frame,
            Pumped::Failed(err) => return Err(raise(ruby, &rb_self.fail(err))),
            Pumped::Empty => loop {
                match gvl::without_gvl_io(|| conn.wait_frame(deadline)) {
                    Some(Waited::Got(frame)) => break frame,
                    Some(Waited::TimedOut) => return Ok(None),
                    Some(Waited::Failed(err)) => return Err(raise(ruby, &rb_self.fail(err))),
                    Some(Waited::Interrupted) | None => gvl::check_interrupts()?,
                }
            },
        };
        rb_self.deliver(ruby, &conn, frame).map(Some)
    }

    /// `#poll_response(seconds)`: see the file's comment.
    fn poll_response(ruby: &Ruby, rb_self: &Self, seconds: f64) -> Result<Option<Value>, Error> {
        if lock(&rb_self.auto_continue).awaiting.is_empty() {
            return Ok(None);
        }
        let conn = rb_self.conn().map_err(|e| raise(ruby, &e))?;
        let deadline = Instant::now() + Duration::from_secs_f64(seconds.clamp(0.0, 0.01));
        loop {
            match conn.pump(1) {
                Pumped::Frame(frame) => return rb_self.deliver(ruby, &conn, frame).map(Some),
                Pumped::Failed(err) => return Err(raise(ruby, &rb_self.fail(err))),
                Pumped::Empty if Instant::now() >= deadline => return Ok(None),
                Pumped::Empty => std::hint::spin_loop(),
            }
        }
    }

    /// A read frame as `[token, response]` (plus `true` if its CONTINUE went out).
    fn deliver(&self, ruby: &Ruby, conn: &Conn, frame: Frame) -> Result<Value, Error> {
        match decode_frame(&frame) {
            Ok(response) => {
                let continued = self.continue_if_partial(ruby, conn, frame.token, response)?;
                let pair = ruby.ary_new_capa(3);
                pair.push(frame.token)?;
                pair.push(response)?;
                if continued {
                    pair.push(true)?;
                }
                Ok(pair.as_value())
            }
            Err(why) => {
                let err = ProtocolError::Driver(format!(
                    "Bad response from server for token {}: invalid JSON ({why}): {}",
                    frame.token,
                    excerpt(&frame.payload, 120)
                ));
                Err(raise(ruby, &self.fail(err)))
            }
        }
    }

    /// Sends CONTINUE for `token` now if it is an auto-continued token and
    /// `response` is partial; true if it did.
    fn continue_if_partial(&self, ruby: &Ruby, conn: &Conn, token: u64, response: Value) -> Result<bool, Error> {
        {
            let mut auto = lock(&self.auto_continue);
            if !auto.tokens.contains(&token) {
                return Ok(false);
            }
            auto.awaiting.remove(&token);
            if !is_partial(response) {
                auto.tokens.remove(&token);
                return Ok(false);
            }
            auto.awaiting.insert(token);
        }
        self.send_frame(ruby, conn, token, CONTINUE_QUERY)?;
        Ok(true)
    }

    /// `#auto_continue(token, on)`: see the file's comment.
    fn set_auto_continue(&self, token: u64, on: bool) {
        let mut auto = lock(&self.auto_continue);
        if on {
            auto.tokens.insert(token);
        } else {
            auto.tokens.remove(&token);
            auto.awaiting.remove(&token);
        }
    }

    /// `#close`: shuts the connection down; blocked callers wake and raise. Idempotent.
    fn close(&self) {
        let mut state = lock(&self.state);
        if let State::Open(conn) = &*state {
            conn.shutdown();
            *state = State::Closed;
        }
        // The fd itself closes when the last call still using it returns.
    }

    fn is_closed(&self) -> bool {
        !matches!(&*lock(&self.state), State::Open(_))
    }

    /// The socket's fd while open (the reactor watches it for em_run), else nil.
    fn fileno(&self) -> Option<i32> {
        match &*lock(&self.state) {
            State::Open(conn) => Some(conn.fd()),
            _ => None,
        }
    }

    fn local_port(&self) -> u16 {
        self.local_port
    }
}

pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let rethinkdb = ruby.define_module("RethinkDB")?;
    let native = rethinkdb.define_module("Native")?;
    let class = native.define_class("Socket", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.const_set("MAX_RESPONSE_BYTES", crate::rethinkdb::framing::DEFAULT_MAX_RESPONSE_LEN)?;
    class.define_singleton_method("connect", function!(Socket::connect, 5))?;
    class.define_singleton_method("connect_tls", function!(Socket::connect_tls, 6))?;
    class.define_method("send_query", method!(Socket::send_query, 2))?;
    class.define_method("read_response", method!(Socket::read_response, 1))?;
    class.define_method("close", method!(Socket::close, 0))?;
    class.define_method("closed?", method!(Socket::is_closed, 0))?;
    class.define_method("local_port", method!(Socket::local_port, 0))?;
    class.define_method("fileno", method!(Socket::fileno, 0))?;
    class.define_method("auto_continue", method!(Socket::set_auto_continue, 2))?;
    class.define_method("poll_response", method!(Socket::poll_response, 1))?;
    Ok(())
}
