//! `RethinkDB::Native::Socket`: a connected, authenticated RethinkDB connection
//! for the synchronous client. The protocol is `crate::rethinkdb` (sans-IO); this
//! file moves its bytes over a non-blocking TCP socket, waits in poll(2) without
//! the GVL (interruptible like Ruby's own socket reads), and builds the response
//! JSON straight into Ruby objects.
//!
//! ```ruby
//! s = RethinkDB::Native::Socket.connect(host, port, user, password, timeout_secs_or_nil)
//! s.send_query(token, json_string)          # => nil, once the frame is on the wire
//! s.read_response(timeout_secs_or_nil)      # => [token, response] or nil on timeout
//! s.close; s.closed?; s.local_port
//! ```
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
//! Locks: the reader and writer mutexes are held only around non-blocking socket
//! calls, never while waiting and never while acquiring the GVL, so a thread that
//! holds the GVL may take them without risk of deadlock.
use super::{errors, gvl};
use crate::rethinkdb::framing::{append_query, Frame, FrameDecoder};
use crate::rethinkdb::handshake::Handshake;
use crate::rethinkdb::json::{self, Builder};
use crate::rethinkdb::{excerpt, ProtocolError};
use magnus::rb_sys::FromRawValue;
use magnus::{function, method, prelude::*, Error, RString, Ruby, Value};
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

const READ_CHUNK: usize = 64 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the data is
    // still consistent byte buffers.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Waiting on the socket (no GVL, no Ruby)

enum Ready {
    Yes,
    TimedOut,
    /// EINTR: Ruby wants the thread back (an interrupt, or just its timer signal).
    Interrupted,
}

fn poll_fd(fd: RawFd, events: libc::c_short, deadline: Option<Instant>) -> io::Result<Ready> {
    let timeout_ms = match deadline {
        None => -1,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            // Round up, so a wakeup never comes before the deadline.
            (left.as_micros().div_ceil(1000)).min(i32::MAX as u128) as libc::c_int
        }
    };
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted { Ok(Ready::Interrupted) } else { Err(err) };
    }
    if rc == 0 {
        return Ok(Ready::TimedOut);
    }
    Ok(Ready::Yes)
}

/// Sends without SIGPIPE (the process may not ignore it).
fn send_nosignal(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    let rc = unsafe { libc::send(fd, bytes.as_ptr().cast(), bytes.len(), libc::MSG_NOSIGNAL) };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}

/// An OS error's text without Rust's " (os error N)" suffix, as Ruby prints Errno messages.
fn os_text(err: &io::Error) -> String {
    let text = err.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn closed_by_server(err: &io::Error) -> ProtocolError {
    ProtocolError::Driver(format!("Connection closed by server ({}).", os_text(err)))
}

fn seconds(d: Option<Duration>) -> String {
    let secs = d.map_or(0.0, |d| d.as_secs_f64());
    format!("{secs} seconds")
}

// ---------------------------------------------------------------------------
// The connection (shared by the Ruby object and the threads inside its methods)

struct Reader {
    decoder: FrameDecoder,
    scratch: Box<[u8]>,
}

struct Writer {
    /// Queued frames; `pending[head..]` is not yet sent.
    pending: Vec<u8>,
    head: usize,
    /// Bytes ever queued / ever sent: a sender waits until `sent` reaches the
    /// `queued` count its own frame ended at.
    queued: u64,
    sent: u64,
}

struct Conn {
    stream: TcpStream,
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
}

enum Pumped {
    Frame(Frame),
    /// Nothing whole yet and the socket has no more bytes for now.
    Empty,
    Failed(ProtocolError),
}

enum Flushed {
    Done,
    Blocked,
    Failed(ProtocolError),
}

impl Conn {
    fn new(stream: TcpStream, decoder: FrameDecoder) -> Conn {
        Conn {
            stream,
            reader: Mutex::new(Reader { decoder, scratch: vec![0; READ_CHUNK].into_boxed_slice() }),
            writer: Mutex::new(Writer { pending: Vec::new(), head: 0, queued: 0, sent: 0 }),
        }
    }

    fn fd(&self) -> RawFd {
        self.stream.as_raw_fd()
    }

    /// The next whole frame: a buffered one, else read (non-blocking) until one is
    /// complete, the socket runs dry, or `max_reads` reads were made.
    fn pump(&self, max_reads: usize) -> Pumped {
        let mut reader = lock(&self.reader);
        let Reader { decoder, scratch } = &mut *reader;
        let mut reads = 0;
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => return Pumped::Frame(frame),
                Err(err) => return Pumped::Failed(err),
                Ok(None) if reads >= max_reads => return Pumped::Empty,
                Ok(None) => {}
            }
            match (&self.stream).read(&mut scratch[..]) {
                Ok(0) => return Pumped::Failed(decoder.eof_error()),
                Ok(n) => {
                    decoder.push(&scratch[..n]);
                    reads += 1;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Pumped::Empty,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Pumped::Failed(closed_by_server(&e)),
            }
        }
    }

    /// Queues a frame; returns the byte count its sender must see sent.
    fn enqueue(&self, frame: &[u8]) -> u64 {
        let mut w = lock(&self.writer);
        w.pending.extend_from_slice(frame);
        w.queued += frame.len() as u64;
        w.queued
    }

    /// Sends queued bytes (anyone's) until `target` bytes were sent in all.
    fn flush(&self, target: u64) -> Flushed {
        let mut w = lock(&self.writer);
        while w.sent < target {
            let from = w.head;
            match send_nosignal(self.fd(), &w.pending[from..]) {
                Ok(n) => {
                    w.head += n;
                    w.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Flushed::Failed(closed_by_server(&e)),
            }
        }
        if w.head == w.pending.len() {
            w.pending.clear();
            w.head = 0;
        } else if w.head > READ_CHUNK && w.head * 2 > w.pending.len() {
            let head = w.head;
            w.pending.drain(..head);
            w.head = 0;
        }
        if w.sent >= target {
            Flushed::Done
        } else {
            Flushed::Blocked
        }
    }
}

// ---------------------------------------------------------------------------
// Connecting: resolve, connect, handshake; all of it without the GVL

enum Step {
    Done(Conn),
    Interrupted,
    Failed(ProtocolError),
}

struct Establish {
    host: String,
    port: u16,
    user: String,
    password: Vec<u8>,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    addrs: Option<Vec<SocketAddr>>,
    next_addr: usize,
    last_error: Option<io::Error>,
    /// The socket and whether its connect(2) finished.
    stream: Option<(TcpStream, bool)>,
    handshake: Option<Handshake>,
    out: Vec<u8>,
}

impl Establish {
    fn could_not_connect(&self, why: &str) -> ProtocolError {
        ProtocolError::Driver(format!("Could not connect to {}:{}: {why}", self.host, self.port))
    }

    /// Makes progress until done, failed or interrupted; called again after an
    /// interrupt that did not raise, it resumes where it stopped.
    fn run(&mut self) -> Step {
        if self.addrs.is_none() {
            match (self.host.as_str(), self.port).to_socket_addrs() {
                Ok(addrs) => self.addrs = Some(addrs.collect()),
                Err(e) => return Step::Failed(self.could_not_connect(&os_text(&e))),
            }
        }
        loop {
            match &self.stream {
                Some((_, true)) => break,
                Some((stream, false)) => match poll_fd(stream.as_raw_fd(), libc::POLLOUT, self.deadline) {
                    Ok(Ready::Interrupted) => return Step::Interrupted,
                    Ok(Ready::TimedOut) => {
                        return Step::Failed(self.could_not_connect(&format!("timed out after {}", seconds(self.timeout))))
                    }
                    Ok(Ready::Yes) => match stream.take_error() {
                        Ok(None) if stream.peer_addr().is_ok() => self.stream.as_mut().expect("matched").1 = true,
                        Ok(None) => {} // woken early: wait again
                        Ok(Some(e)) | Err(e) => self.next_address(e),
                    },
                    Err(e) => self.next_address(e),
                },
                None => {
                    let addrs = self.addrs.as_deref().unwrap_or_default();
                    let Some(&addr) = addrs.get(self.next_addr) else {
                        let why = match &self.last_error {
                            Some(e) => format!("{} - connect(2) for \"{}\" port {}", os_text(e), self.host, self.port),
                            None => "no address found for the host".to_string(),
                        };
                        return Step::Failed(self.could_not_connect(&why));
                    };
                    // mio starts a non-blocking connect(2).
                    match mio::net::TcpStream::connect(addr) {
                        Ok(stream) => {
                            let stream = unsafe { TcpStream::from_raw_fd(stream.into_raw_fd()) };
                            self.stream = Some((stream, false));
                        }
                        Err(e) => self.next_address(e),
                    }
                }
            }
        }
        if self.handshake.is_none() {
            let stream = &self.stream.as_ref().expect("connected").0;
            let _ = stream.set_nodelay(true);
            let on: libc::c_int = 1;
            unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_KEEPALIVE,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            match Handshake::start(&self.user, &self.password) {
                Ok((handshake, first)) => {
                    self.handshake = Some(handshake);
                    self.out = first;
                }
                Err(e) => return Step::Failed(e),
            }
        }
        self.shake()
    }

    fn next_address(&mut self, err: io::Error) {
        self.last_error = Some(err);
        self.stream = None;
        self.next_addr += 1;
    }

    fn shake(&mut self) -> Step {
        let (stream, _) = self.stream.as_ref().expect("connected");
        let fd = stream.as_raw_fd();
        let handshake = self.handshake.as_mut().expect("started");
        let mut buf = [0u8; 4096];
        loop {
            while !self.out.is_empty() {
                match send_nosignal(fd, &self.out) {
                    Ok(n) => {
                        self.out.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Step::Failed(closed_by_server(&e)),
                }
            }
            match (&*stream).read(&mut buf) {
                Ok(0) => return Step::Failed(handshake.eof_error()),
                Ok(n) => match handshake.feed(&buf[..n]) {
                    Ok(progress) => {
                        self.out.extend_from_slice(&progress.send);
                        if progress.done {
                            let mut decoder = FrameDecoder::default();
                            decoder.push(&handshake.take_rest());
                            let (stream, _) = self.stream.take().expect("connected");
                            return Step::Done(Conn::new(stream, decoder));
                        }
                        continue;
                    }
                    Err(e) => return Step::Failed(e),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Step::Interrupted,
                Err(e) => return Step::Failed(closed_by_server(&e)),
            }
            let events = if self.out.is_empty() { libc::POLLIN } else { libc::POLLIN | libc::POLLOUT };
            match poll_fd(fd, events, self.deadline) {
                Ok(Ready::Yes) => {}
                Ok(Ready::Interrupted) => return Step::Interrupted,
                Ok(Ready::TimedOut) => {
                    return Step::Failed(ProtocolError::Driver(format!(
                        "Handshake with {}:{} timed out after {} (waiting for {}).",
                        self.host,
                        self.port,
                        seconds(self.timeout),
                        handshake.awaiting()
                    )))
                }
                Err(e) => return Step::Failed(closed_by_server(&e)),
            }
        }
    }
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
        unsafe { rb_sys::rb_ll2inum(i) }
    }
    fn uint(&mut self, u: u64) -> rb_sys::VALUE {
        unsafe { rb_sys::rb_ull2inum(u) }
    }
    fn float(&mut self, f: f64) -> rb_sys::VALUE {
        unsafe { rb_sys::rb_float_new(f) }
    }
    fn string(&mut self, s: &str) -> rb_sys::VALUE {
        unsafe { rb_sys::rb_utf8_str_new(s.as_ptr().cast(), s.len() as _) }
    }
    fn array(&mut self) -> rb_sys::VALUE {
        unsafe { rb_sys::rb_ary_new() }
    }
    fn push(&mut self, array: &mut rb_sys::VALUE, item: rb_sys::VALUE) {
        unsafe { rb_sys::rb_ary_push(*array, item) };
    }
    fn object(&mut self) -> rb_sys::VALUE {
        unsafe { rb_sys::rb_hash_new() }
    }
    /// Keys are interned frozen strings, as Hash#[]= would make them anyway.
    fn key(&mut self, s: &str) -> rb_sys::VALUE {
        unsafe { rb_sys::rb_enc_interned_str(s.as_ptr().cast(), s.len() as _, self.utf8) }
    }
    fn insert(&mut self, object: &mut rb_sys::VALUE, key: rb_sys::VALUE, value: rb_sys::VALUE) {
        unsafe { rb_sys::rb_hash_aset(*object, key, value) };
    }
}

/// `[token, decoded response]`.
fn decode_frame(frame: &Frame) -> Result<Value, String> {
    let mut builder = RubyBuilder { utf8: unsafe { rb_sys::rb_utf8_encoding() } };
    let response = json::decode(&frame.payload, &mut builder)?;
    let token = unsafe { rb_sys::rb_ull2inum(frame.token) };
    Ok(unsafe { Value::from_raw(rb_sys::rb_assoc_new(token, response)) })
}

// ---------------------------------------------------------------------------
// The Ruby object

enum State {
    Open(Arc<Conn>),
    Closed,
    Failed(ProtocolError),
}

#[magnus::wrap(class = "RethinkDB::Native::Socket", free_immediately, size)]
pub struct Socket {
    state: Mutex<State>,
    local_port: u16,
}

/// What the reactor would take over from a connected socket (see `Socket::detach`).
#[allow(dead_code)]
pub struct Detached {
    pub stream: TcpStream,
    /// Holds any response bytes already received (whole frames included).
    pub decoder: FrameDecoder,
    /// Query bytes queued but not yet sent.
    pub unsent: Vec<u8>,
}

fn raise(ruby: &Ruby, err: &ProtocolError) -> Error {
    let class = match err {
        ProtocolError::Auth(_) => errors::class_at(ruby, &["RethinkDB", "ReqlAuthError"])
            .or_else(|| errors::class_at(ruby, &["RethinkDB", "ReqlDriverError"])),
        ProtocolError::Driver(_) => errors::class_at(ruby, &["RethinkDB", "ReqlDriverError"]),
    };
    Error::new(class.unwrap_or_else(|| ruby.exception_runtime_error()), err.message().to_string())
}

fn closed_error() -> ProtocolError {
    ProtocolError::Driver("Connection is closed.".into())
}

/// A timeout argument: nil (or Infinity, or one too large for the clock) waits
/// forever; zero or negative means "don't wait".
fn deadline_in(ruby: &Ruby, timeout: Option<f64>) -> Result<(Option<Duration>, Option<Instant>), Error> {
    let Some(secs) = timeout else { return Ok((None, None)) };
    if secs.is_nan() {
        return Err(Error::new(ruby.exception_arg_error(), "timeout must be a number of seconds, not NaN"));
    }
    let duration = Duration::try_from_secs_f64(secs.max(0.0)).ok();
    let deadline = duration.and_then(|d| Instant::now().checked_add(d));
    Ok((duration, deadline))
}

impl Socket {
    /// `Socket.connect(host, port, user, password, timeout_secs_or_nil)`.
    fn connect(
        ruby: &Ruby,
        host: String,
        port: u16,
        user: String,
        password: RString,
        timeout: Option<f64>,
    ) -> Result<Socket, Error> {
        let (timeout, deadline) = deadline_in(ruby, timeout)?;
        let mut establish = Establish {
            host,
            port,
            user,
            password: unsafe { password.as_slice() }.to_vec(),
            timeout,
            deadline,
            addrs: None,
            next_addr: 0,
            last_error: None,
            stream: None,
            handshake: None,
            out: Vec::new(),
        };
        loop {
            match gvl::without_gvl_io(|| establish.run()) {
                Some(Step::Done(conn)) => {
                    let local_port = conn.stream.local_addr().map_or(0, |a| a.port());
                    return Ok(Socket { state: Mutex::new(State::Open(Arc::new(conn))), local_port });
                }
                Some(Step::Failed(err)) => return Err(raise(ruby, &err)),
                // An exception here drops `establish`, closing the half-made socket.
                Some(Step::Interrupted) | None => gvl::check_interrupts()?,
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

    /// Records the first failure and closes the socket. Returns the error to raise:
    /// after `close`, the EOF it caused reads as "Connection is closed.".
    fn fail(&self, err: ProtocolError) -> ProtocolError {
        let mut state = lock(&self.state);
        match &*state {
            State::Open(conn) => {
                let _ = conn.stream.shutdown(std::net::Shutdown::Both);
                *state = State::Failed(err.clone());
                err
            }
            State::Closed => closed_error(),
            State::Failed(first) => first.clone(),
        }
    }

    /// `#send_query(token, json)`: sends one query frame; returns once it is written
    /// to the socket (waiting, without the GVL, while the socket buffer is full).
    fn send_query(ruby: &Ruby, rb_self: &Self, token: u64, json: RString) -> Result<(), Error> {
        let conn = rb_self.conn().map_err(|e| raise(ruby, &e))?;
        let mut frame = Vec::new();
        // Copied while the GVL is held: the String may change once it is released.
        append_query(&mut frame, token, unsafe { json.as_slice() }).map_err(|e| raise(ruby, &e))?;
        let target = conn.enqueue(&frame);
        drop(frame);
        loop {
            match conn.flush(target) {
                Flushed::Done => return Ok(()),
                Flushed::Failed(err) => return Err(raise(ruby, &rb_self.fail(err))),
                Flushed::Blocked => {}
            }
            let fd = conn.fd();
            match gvl::without_gvl_io(|| poll_fd(fd, libc::POLLOUT, None)) {
                Some(Ok(Ready::Yes)) | Some(Ok(Ready::TimedOut)) => {}
                Some(Ok(Ready::Interrupted)) | None => gvl::check_interrupts()?,
                Some(Err(e)) => return Err(raise(ruby, &rb_self.fail(closed_by_server(&e)))),
            }
        }
    }

    /// `#read_response(timeout_secs_or_nil)`: the next response as `[token, value]`,
    /// or nil if none arrived within the timeout.
    fn read_response(ruby: &Ruby, rb_self: &Self, timeout: Option<f64>) -> Result<Option<Value>, Error> {
        let (_, deadline) = deadline_in(ruby, timeout)?;
        let conn = rb_self.conn().map_err(|e| raise(ruby, &e))?;
        // With the GVL: what is buffered, plus at most one read.
        let mut pumped = conn.pump(1);
        loop {
            match pumped {
                Pumped::Frame(frame) => {
                    return match decode_frame(&frame) {
                        Ok(pair) => Ok(Some(pair)),
                        Err(why) => {
                            let err = ProtocolError::Driver(format!(
                                "Bad response from server for token {}: invalid JSON ({why}): {}",
                                frame.token,
                                excerpt(&frame.payload, 120)
                            ));
                            Err(raise(ruby, &rb_self.fail(err)))
                        }
                    };
                }
                Pumped::Failed(err) => return Err(raise(ruby, &rb_self.fail(err))),
                Pumped::Empty => {}
            }
            let fd = conn.fd();
            let conn_ref = &conn;
            let waited = gvl::without_gvl_io(|| loop {
                match poll_fd(fd, libc::POLLIN, deadline) {
                    Ok(Ready::Yes) => match conn_ref.pump(usize::MAX) {
                        Pumped::Empty => continue,
                        other => return Ok(Some(other)),
                    },
                    Ok(Ready::TimedOut) => return Ok(None),
                    Ok(Ready::Interrupted) => return Err(()),
                    Err(e) => return Ok(Some(Pumped::Failed(closed_by_server(&e)))),
                }
            });
            pumped = match waited {
                Some(Ok(Some(p))) => p,
                Some(Ok(None)) => return Ok(None),
                Some(Err(())) | None => {
                    gvl::check_interrupts()?;
                    Pumped::Empty
                }
            };
        }
    }

    /// `#close`: shuts the connection down; blocked callers wake and raise. Idempotent.
    fn close(&self) {
        let mut state = lock(&self.state);
        if let State::Open(conn) = &*state {
            let _ = conn.stream.shutdown(std::net::Shutdown::Both);
            *state = State::Closed;
        }
        // The fd itself closes when the last call using it returns.
    }

    fn is_closed(&self) -> bool {
        !matches!(&*lock(&self.state), State::Open(_))
    }

    fn local_port(&self) -> u16 {
        self.local_port
    }

    /// Hands the connection over (to the reactor) with everything buffered in
    /// either direction; the Ruby object is closed afterwards. Fails while another
    /// thread is inside a call on this socket.
    #[allow(dead_code)]
    pub fn detach(&self) -> Result<Detached, ProtocolError> {
        let mut state = lock(&self.state);
        let conn = match std::mem::replace(&mut *state, State::Closed) {
            State::Open(conn) => conn,
            other => {
                let err = match &other {
                    State::Failed(e) => e.clone(),
                    _ => closed_error(),
                };
                *state = other;
                return Err(err);
            }
        };
        match Arc::try_unwrap(conn) {
            Ok(conn) => {
                let reader = conn.reader.into_inner().unwrap_or_else(|p| p.into_inner());
                let writer = conn.writer.into_inner().unwrap_or_else(|p| p.into_inner());
                Ok(Detached { stream: conn.stream, decoder: reader.decoder, unsent: writer.pending[writer.head..].to_vec() })
            }
            Err(conn) => {
                *state = State::Open(conn);
                Err(ProtocolError::Driver("The socket is in use by another thread.".into()))
            }
        }
    }
}

pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let rethinkdb = ruby.define_module("RethinkDB")?;
    let native = rethinkdb.define_module("Native")?;
    let class = native.define_class("Socket", ruby.class_object())?;
    class.undef_default_alloc_func();
    class.const_set("MAX_RESPONSE_BYTES", crate::rethinkdb::framing::DEFAULT_MAX_RESPONSE_LEN)?;
    class.define_singleton_method("connect", function!(Socket::connect, 5))?;
    class.define_method("send_query", method!(Socket::send_query, 2))?;
    class.define_method("read_response", method!(Socket::read_response, 1))?;
    class.define_method("close", method!(Socket::close, 0))?;
    class.define_method("closed?", method!(Socket::is_closed, 0))?;
    class.define_method("local_port", method!(Socket::local_port, 0))?;
    Ok(())
}
