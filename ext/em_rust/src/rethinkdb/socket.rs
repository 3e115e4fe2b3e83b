//! The protocol driven over a real socket, still without Ruby: a non-blocking TCP
//! connection ([`Conn`]) that several threads may read and write at once, and
//! the connect-plus-handshake procedure ([`Establish`]). Every wait is a
//! poll(2) that returns [`Waited::Interrupted`] on EINTR, so a caller that runs
//! these without the Ruby GVL (Ruby's I/O unblocking function signals the
//! thread) can deliver interrupts and resume.
//!
//! Locks: the reader and writer mutexes are held only around non-blocking socket
//! calls, never across a wait, so they are safe to take while holding the GVL.
use super::framing::{Frame, FrameDecoder};
use super::handshake::Handshake;
use super::wire::{self, Handshaking, TlsOptions, Wire};
use super::ProtocolError;
use openssl::ssl::MidHandshakeSslStream;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

const READ_CHUNK: usize = 64 * 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while these locks are held; the buffers stay consistent anyway.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How a wait ended.
#[derive(Debug)]
pub enum Waited<T> {
    Got(T),
    TimedOut,
    /// EINTR: the thread is wanted back (an interrupt, or a stray signal); the
    /// caller checks and calls again.
    Interrupted,
    Failed(ProtocolError),
}

enum Ready {
    Yes,
    TimedOut,
    Interrupted,
}

fn poll_fd(fd: RawFd, events: libc::c_short, deadline: Option<Instant>) -> io::Result<Ready> {
    let timeout_ms = match deadline {
        None => -1,
        Some(deadline) => {
            let left = deadline.saturating_duration_since(Instant::now());
            // Rounded up, so a wakeup never comes before the deadline.
            left.as_micros().div_ceil(1000).min(i32::MAX as u128) as libc::c_int
        }
    };
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: `pfd` is one live pollfd and the count passed is 1.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        return if err.kind() == io::ErrorKind::Interrupted { Ok(Ready::Interrupted) } else { Err(err) };
    }
    Ok(if rc == 0 { Ready::TimedOut } else { Ready::Yes })
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
    format!("{} seconds", d.map_or(0.0, |d| d.as_secs_f64()))
}

// ---------------------------------------------------------------------------

struct Reader {
    decoder: FrameDecoder,
    scratch: Box<[u8]>,
}

struct Writer {
    /// Queued frames; `pending[head..]` is not yet sent.
    pending: Vec<u8>,
    head: usize,
    /// Bytes ever queued / ever sent: a sender is done when `sent` reaches the
    /// `queued` count its own frame ended at.
    queued: u64,
    sent: u64,
}

/// A connected, authenticated connection carrying frames.
pub struct Conn {
    wire: Wire,
    reader: Mutex<Reader>,
    writer: Mutex<Writer>,
}

/// What one non-blocking attempt to read a frame gave.
pub enum Pumped {
    Frame(Frame),
    /// Nothing whole yet, and the socket has no more bytes for now.
    Empty,
    Failed(ProtocolError),
}

enum Flushed {
    Done,
    Blocked,
    Failed(ProtocolError),
}

impl Conn {
    fn new(wire: Wire, decoder: FrameDecoder) -> Conn {
        Conn {
            wire,
            reader: Mutex::new(Reader { decoder, scratch: vec![0; READ_CHUNK].into_boxed_slice() }),
            writer: Mutex::new(Writer { pending: Vec::new(), head: 0, queued: 0, sent: 0 }),
        }
    }

    pub fn fd(&self) -> RawFd {
        self.wire.fd()
    }

    pub fn local_port(&self) -> u16 {
        self.wire.local_port()
    }

    /// Sends FIN both ways: blocked readers and writers wake up (and see EOF).
    pub fn shutdown(&self) {
        self.wire.shutdown();
    }

    /// The next whole frame: a buffered one, else read (non-blocking) until one is
    /// complete, the socket runs dry, or `max_reads` reads were made. Each frame
    /// is returned once, to one caller.
    pub fn pump(&self, max_reads: usize) -> Pumped {
        let mut reader = lock(&self.reader);
        let Reader { decoder, scratch } = &mut *reader;
        let mut reads = 0;
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => return Pumped::Frame(frame),
                Err(err) => return Pumped::Failed(err),
                // Bytes TLS has decrypted already would not make the fd readable.
                Ok(None) if reads >= max_reads && !self.wire.buffered() => return Pumped::Empty,
                Ok(None) => {}
            }
            match self.wire.read(&mut scratch[..]) {
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

    /// Blocks until a frame arrives (reading without holding any lock while it
    /// waits), the deadline passes, a signal interrupts the wait, or the
    /// connection fails.
    pub fn wait_frame(&self, deadline: Option<Instant>) -> Waited<Frame> {
        loop {
            match self.pump(usize::MAX) {
                Pumped::Frame(frame) => return Waited::Got(frame),
                Pumped::Failed(err) => return Waited::Failed(err),
                Pumped::Empty => {}
            }
            match poll_fd(self.fd(), self.wire.poll_events(true), deadline) {
                Ok(Ready::Yes) => {}
                Ok(Ready::TimedOut) => return Waited::TimedOut,
                Ok(Ready::Interrupted) => return Waited::Interrupted,
                Err(e) => return Waited::Failed(closed_by_server(&e)),
            }
        }
    }

    /// Queues a frame behind those already queued and sends what the socket takes
    /// now. Returns the count of bytes that must be sent for this frame to be out,
    /// and whether it already is.
    pub fn enqueue(&self, frame: &[u8]) -> Result<(u64, bool), ProtocolError> {
        let target = {
            let mut w = lock(&self.writer);
            w.pending.extend_from_slice(frame);
            w.queued += frame.len() as u64;
            w.queued
        };
        match self.flush(target) {
            Flushed::Done => Ok((target, true)),
            Flushed::Blocked => Ok((target, false)),
            Flushed::Failed(err) => Err(err),
        }
    }

    /// Blocks until `target` bytes (see [`enqueue`](Self::enqueue)) are sent. An
    /// interrupted sender's frame stays queued and goes out ahead of the next one.
    pub fn wait_sent(&self, target: u64) -> Waited<()> {
        loop {
            match self.flush(target) {
                Flushed::Done => return Waited::Got(()),
                Flushed::Failed(err) => return Waited::Failed(err),
                Flushed::Blocked => {}
            }
            match poll_fd(self.fd(), self.wire.poll_events(false), None) {
                Ok(Ready::Yes) | Ok(Ready::TimedOut) => {}
                Ok(Ready::Interrupted) => return Waited::Interrupted,
                Err(e) => return Waited::Failed(closed_by_server(&e)),
            }
        }
    }

    /// Sends queued bytes (anyone's, in order) until `target` bytes were sent in all.
    fn flush(&self, target: u64) -> Flushed {
        let mut w = lock(&self.writer);
        let mut result = Flushed::Done;
        while w.sent < target {
            let from = w.head;
            match self.wire.write(&w.pending[from..]) {
                Ok(n) => {
                    w.head += n;
                    w.sent += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    result = Flushed::Blocked;
                    break;
                }
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
        result
    }
}

// ---------------------------------------------------------------------------

/// Resolve, connect, handshake: one deadline for all of it. [`run`](Self::run)
/// blocks (in poll) and may be called again after it returns `Interrupted`; it
/// resumes where it stopped. Dropping it closes a half-made socket.
pub struct Establish {
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
    tls: Option<TlsOptions>,
    /// A TLS handshake under way, and whether it waits to read (else to write).
    tls_step: Option<(Box<MidHandshakeSslStream<TcpStream>>, bool)>,
    /// Connected (and TLS up, with `tls`): the RethinkDB handshake runs on it.
    wire: Option<Wire>,
    handshake: Option<Handshake>,
    out: Vec<u8>,
}

impl Establish {
    /// `timeout` None waits forever; `tls` None connects in the clear.
    pub fn new(
        host: String,
        port: u16,
        user: String,
        password: Vec<u8>,
        timeout: Option<Duration>,
        tls: Option<TlsOptions>,
    ) -> Establish {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        Establish {
            host,
            port,
            user,
            password,
            timeout,
            deadline,
            addrs: None,
            next_addr: 0,
            last_error: None,
            stream: None,
            tls,
            tls_step: None,
            wire: None,
            handshake: None,
            out: Vec::new(),
        }
    }

    fn could_not_connect(&self, why: &str) -> ProtocolError {
        ProtocolError::Driver(format!("Could not connect to {}:{}: {why}", self.host, self.port))
    }

    pub fn run(&mut self) -> Waited<Conn> {
        if self.addrs.is_none() {
            match (self.host.as_str(), self.port).to_socket_addrs() {
                Ok(addrs) => self.addrs = Some(addrs.collect()),
                Err(e) => return Waited::Failed(self.could_not_connect(&os_text(&e))),
            }
        }
        // Once connected the stream has moved on (into the TLS step or the wire): a
        // run resumed after an interrupt goes straight on from there.
        while self.wire.is_none() && self.tls_step.is_none() {
            match &self.stream {
                Some((_, true)) => break,
                Some((stream, false)) => match poll_fd(stream.as_raw_fd(), libc::POLLOUT, self.deadline) {
                    Ok(Ready::Interrupted) => return Waited::Interrupted,
                    Ok(Ready::TimedOut) => {
                        let why = format!("timed out after {}", seconds(self.timeout));
                        return Waited::Failed(self.could_not_connect(&why));
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
                        return Waited::Failed(self.could_not_connect(&why));
                    };
                    // mio starts a non-blocking connect(2); the socket stays non-blocking.
                    match mio::net::TcpStream::connect(addr) {
                        Ok(stream) => {
                            // SAFETY: `into_raw_fd` hands over the socket's fd: the std TcpStream is its only owner.
                            let stream = unsafe { TcpStream::from_raw_fd(stream.into_raw_fd()) };
                            self.stream = Some((stream, false));
                        }
                        Err(e) => self.next_address(e),
                    }
                }
            }
        }
        if self.wire.is_none() && self.tls_step.is_none() {
            let (stream, _) = self.stream.take().expect("connected");
            let _ = stream.set_nodelay(true);
            let on: libc::c_int = 1;
            // SAFETY: `on` is a live c_int and its size is passed; the fd is the open stream's.
            unsafe {
                libc::setsockopt(
                    stream.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_KEEPALIVE,
                    (&on as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
            }
            match &self.tls {
                None => self.wire = Some(Wire::Plain(stream)),
                Some(options) => match wire::start_tls(stream, &self.host, options) {
                    Handshaking::Done(w) => self.wire = Some(w),
                    Handshaking::Again(mid, wants_read) => self.tls_step = Some((mid, wants_read)),
                    Handshaking::Failed(why) => return Waited::Failed(self.could_not_connect(&why)),
                },
            }
        }
        while let Some((mid, wants_read)) = self.tls_step.take() {
            let fd = mid.get_ref().as_raw_fd();
            let events = if wants_read { libc::POLLIN } else { libc::POLLOUT };
            match poll_fd(fd, events, self.deadline) {
                Ok(Ready::Yes) => {}
                Ok(Ready::Interrupted) => {
                    self.tls_step = Some((mid, wants_read));
                    return Waited::Interrupted;
                }
                Ok(Ready::TimedOut) => {
                    let why = format!("TLS handshake timed out after {}", seconds(self.timeout));
                    return Waited::Failed(self.could_not_connect(&why));
                }
                Err(e) => return Waited::Failed(closed_by_server(&e)),
            }
            match wire::continue_tls(*mid) {
                Handshaking::Done(w) => self.wire = Some(w),
                Handshaking::Again(mid, wants_read) => self.tls_step = Some((mid, wants_read)),
                Handshaking::Failed(why) => return Waited::Failed(self.could_not_connect(&why)),
            }
        }
        if self.handshake.is_none() {
            match Handshake::start(&self.user, &self.password) {
                Ok((handshake, first)) => {
                    self.handshake = Some(handshake);
                    self.out = first;
                }
                Err(e) => return Waited::Failed(e),
            }
        }
        self.shake()
    }

    fn next_address(&mut self, err: io::Error) {
        self.last_error = Some(err);
        self.stream = None;
        self.next_addr += 1;
    }

    fn shake(&mut self) -> Waited<Conn> {
        let wire = self.wire.as_ref().expect("connected");
        let fd = wire.fd();
        let handshake = self.handshake.as_mut().expect("started");
        let mut buf = [0u8; 4096];
        loop {
            while !self.out.is_empty() {
                match wire.write(&self.out) {
                    Ok(n) => {
                        self.out.drain(..n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Waited::Failed(closed_by_server(&e)),
                }
            }
            match wire.read(&mut buf) {
                Ok(0) => return Waited::Failed(handshake.eof_error()),
                Ok(n) => match handshake.feed(&buf[..n]) {
                    Ok(progress) if progress.done => {
                        let mut decoder = FrameDecoder::default();
                        decoder.push(&handshake.take_rest());
                        let wire = self.wire.take().expect("connected");
                        return Waited::Got(Conn::new(wire, decoder));
                    }
                    Ok(progress) => {
                        self.out.extend_from_slice(&progress.send);
                        continue;
                    }
                    Err(e) => return Waited::Failed(e),
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => return Waited::Interrupted,
                Err(e) => return Waited::Failed(closed_by_server(&e)),
            }
            let events = wire.poll_events(true) | if self.out.is_empty() { 0 } else { wire.poll_events(false) };
            match poll_fd(fd, events, self.deadline) {
                Ok(Ready::Yes) => {}
                Ok(Ready::Interrupted) => return Waited::Interrupted,
                Ok(Ready::TimedOut) => {
                    return Waited::Failed(ProtocolError::Driver(format!(
                        "Handshake with {}:{} timed out after {} (waiting for {}).",
                        self.host,
                        self.port,
                        seconds(self.timeout),
                        handshake.awaiting()
                    )))
                }
                Err(e) => return Waited::Failed(closed_by_server(&e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rethinkdb::framing::append_query;
    use crate::rethinkdb::scram::{hmac_sha256, pbkdf2_sha256};
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde_json::{json, Value};
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpListener;
    use std::sync::Arc;
    use std::thread;

    /// Reads one NUL-terminated JSON message.
    fn recv_json(r: &mut BufReader<TcpStream>) -> Value {
        let mut buf = Vec::new();
        r.read_until(0, &mut buf).unwrap();
        buf.pop();
        serde_json::from_slice(&buf).unwrap()
    }

    fn send_json(w: &mut TcpStream, v: Value) {
        let mut bytes = v.to_string().into_bytes();
        bytes.push(0);
        w.write_all(&bytes).unwrap();
    }

    /// A RethinkDB server that knows only `password`: it runs the handshake, then
    /// hands the stream to `then`.
    fn fake_server<F>(password: &'static str, then: F) -> (u16, thread::JoinHandle<()>)
    where
        F: FnOnce(TcpStream) + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = stream.try_clone().unwrap();
            let mut r = BufReader::new(stream);
            let mut magic = [0u8; 4];
            r.read_exact(&mut magic).unwrap();
            assert_eq!(u32::from_le_bytes(magic), 0x34c2bdc3);
            let first = recv_json(&mut r);
            send_json(&mut w, json!({"success": true, "min_protocol_version": 0, "max_protocol_version": 0}));
            let client_first_bare = first["authentication"].as_str().unwrap().strip_prefix("n,,").unwrap().to_string();
            let nonce = client_first_bare.split(",r=").nth(1).unwrap();
            let server_first = format!("r={nonce}SERVER,s={},i=8", STANDARD.encode(b"salt"));
            send_json(&mut w, json!({"success": true, "authentication": server_first}));
            let client_final = recv_json(&mut r)["authentication"].as_str().unwrap().to_string();
            let without_proof = client_final.split(",p=").next().unwrap();
            let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
            let salted = pbkdf2_sha256(password.as_bytes(), b"salt", 8);
            let signature = hmac_sha256(&hmac_sha256(&salted, b"Server Key"), auth_message.as_bytes());
            send_json(&mut w, json!({"success": true, "authentication": format!("v={}", STANDARD.encode(signature))}));
            assert!(r.buffer().is_empty());
            then(w);
        });
        (port, server)
    }

    fn establish(port: u16, password: &str, timeout: Option<Duration>) -> Result<Conn, ProtocolError> {
        let mut e =
            Establish::new("127.0.0.1".into(), port, "admin".into(), password.as_bytes().to_vec(), timeout, None);
        loop {
            match e.run() {
                Waited::Got(conn) => return Ok(conn),
                Waited::Failed(err) => return Err(err),
                Waited::Interrupted => {}
                Waited::TimedOut => unreachable!("Establish reports timeouts as failures"),
            }
        }
    }

    fn frame(token: u64, json: &str) -> Vec<u8> {
        let mut out = Vec::new();
        append_query(&mut out, token, json.as_bytes()).unwrap();
        out
    }

    fn soon() -> Option<Instant> {
        Some(Instant::now() + Duration::from_secs(5))
    }

    #[test]
    fn handshake_then_queries_and_responses_byte_by_byte() {
        let (port, server) = fake_server("pw", |mut s| {
            let mut header = [0u8; 12];
            s.read_exact(&mut header).unwrap();
            let len = u32::from_le_bytes(header[8..].try_into().unwrap()) as usize;
            let mut body = vec![0; len];
            s.read_exact(&mut body).unwrap();
            assert_eq!(&header[..8], &7u64.to_le_bytes());
            assert_eq!(body, b"[1,[2,[1]],{}]");
            for b in [frame(7, r#"{"t":1,"r":[[1]]}"#), frame(8, "{}")].concat() {
                s.write_all(&[b]).unwrap();
            }
        });
        let conn = establish(port, "pw", Some(Duration::from_secs(5))).unwrap();
        assert_ne!(conn.local_port(), 0);
        let (target, _) = conn.enqueue(&frame(7, "[1,[2,[1]],{}]")).unwrap();
        assert!(matches!(conn.wait_sent(target), Waited::Got(())));
        let Waited::Got(f) = conn.wait_frame(soon()) else { panic!("no frame") };
        assert_eq!((f.token, f.payload.as_slice()), (7, br#"{"t":1,"r":[[1]]}"#.as_slice()));
        let Waited::Got(f) = conn.wait_frame(soon()) else { panic!("no frame") };
        assert_eq!(f.token, 8);
        server.join().unwrap();
        let Waited::Failed(err) = conn.wait_frame(soon()) else { panic!("no EOF") };
        assert_eq!(err.message(), "Connection closed by server.");
    }

    #[test]
    fn wrong_password_is_an_auth_error() {
        let (port, server) = fake_server("right", |_| {});
        let err = establish(port, "wrong", None).err().expect("refused");
        assert!(err.is_auth(), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_is_refused_like_ruby_says_it() {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = establish(port, "", Some(Duration::from_secs(5))).err().expect("refused");
        assert_eq!(
            err.message(),
            format!(
                "Could not connect to 127.0.0.1:{port}: Connection refused - connect(2) for \"127.0.0.1\" port {port}"
            )
        );
    }

    #[test]
    fn a_silent_server_times_the_handshake_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let started = Instant::now();
        let err = establish(port, "", Some(Duration::from_millis(200))).err().expect("timeout");
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            err.message(),
            format!("Handshake with 127.0.0.1:{port} timed out after 0.2 seconds (waiting for the server's protocol version).")
        );
    }

    #[test]
    fn a_timeout_returns_and_the_connection_stays_usable() {
        let (port, server) = fake_server("", |mut s| {
            thread::sleep(Duration::from_millis(150));
            s.write_all(&frame(1, "[]")).unwrap();
            thread::sleep(Duration::from_millis(100));
        });
        let conn = establish(port, "", None).unwrap();
        assert!(matches!(conn.wait_frame(Some(Instant::now())), Waited::TimedOut));
        assert!(matches!(conn.wait_frame(Some(Instant::now() + Duration::from_millis(20))), Waited::TimedOut));
        assert!(matches!(conn.wait_frame(soon()), Waited::Got(Frame { token: 1, .. })));
        server.join().unwrap();
    }

    #[test]
    fn truncated_frame_at_eof() {
        let (port, server) = fake_server("", |mut s| s.write_all(&frame(3, r#"{"t":1}"#)[..14]).unwrap());
        let conn = establish(port, "", None).unwrap();
        let Waited::Failed(err) = conn.wait_frame(soon()) else { panic!("no error") };
        assert_eq!(
            err.message(),
            "Connection closed by server in the middle of a response (token 3: 2 of 7 bytes received)."
        );
        server.join().unwrap();
    }

    #[test]
    fn shutdown_wakes_a_blocked_reader() {
        let (port, server) = fake_server("", |_s| thread::sleep(Duration::from_millis(500)));
        let conn = Arc::new(establish(port, "", None).unwrap());
        let reader = thread::spawn({
            let conn = conn.clone();
            move || matches!(conn.wait_frame(None), Waited::Failed(_))
        });
        thread::sleep(Duration::from_millis(50));
        conn.shutdown();
        assert!(reader.join().unwrap());
        server.join().unwrap();
    }

    #[test]
    fn concurrent_writers_never_interleave_frames() {
        const WRITERS: u64 = 6;
        const EACH: u64 = 300;
        let body_len = 5000;
        let (port, server) = fake_server("", move |mut s| {
            let mut seen = vec![0u64; WRITERS as usize];
            for _ in 0..WRITERS * EACH {
                let mut header = [0u8; 12];
                s.read_exact(&mut header).unwrap();
                let token = u64::from_le_bytes(header[..8].try_into().unwrap());
                let len = u32::from_le_bytes(header[8..].try_into().unwrap()) as usize;
                let mut body = vec![0; len];
                s.read_exact(&mut body).unwrap();
                let (writer, seq) = (token / 1_000_000, token % 1_000_000);
                assert!(body.iter().all(|&b| b == b'a' + writer as u8), "frame {token} mixed with another");
                assert_eq!(seq, seen[writer as usize], "writer {writer} out of order");
                seen[writer as usize] += 1;
                // Read slowly at first so the writers fill the socket buffer and queue.
                if seq < 3 {
                    thread::sleep(Duration::from_millis(5));
                }
            }
        });
        let conn = Arc::new(establish(port, "", None).unwrap());
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let conn = conn.clone();
                thread::spawn(move || {
                    let body = vec![b'a' + w as u8; body_len];
                    for i in 0..EACH {
                        let mut f = Vec::new();
                        append_query(&mut f, w * 1_000_000 + i, &body).unwrap();
                        let (target, done) = conn.enqueue(&f).unwrap();
                        if !done {
                            loop {
                                match conn.wait_sent(target) {
                                    Waited::Got(()) => break,
                                    Waited::Interrupted => {}
                                    other => panic!("{other:?}"),
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        server.join().unwrap();
    }

    #[test]
    fn concurrent_readers_each_get_distinct_frames() {
        let (port, server) = fake_server("", |mut s| {
            let mut all = Vec::new();
            for i in 0..500u64 {
                all.extend(frame(i, &format!("[{i}]")));
            }
            for chunk in all.chunks(333) {
                s.write_all(chunk).unwrap();
            }
            thread::sleep(Duration::from_millis(300));
        });
        let conn = Arc::new(establish(port, "", None).unwrap());
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let conn = conn.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Waited::Got(f) = conn.wait_frame(Some(Instant::now() + Duration::from_millis(150))) {
                        assert_eq!(f.payload, format!("[{}]", f.token).into_bytes());
                        got.push(f.token);
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<u64> = readers.into_iter().flat_map(|r| r.join().unwrap()).collect();
        all.sort_unstable();
        assert_eq!(all, (0..500).collect::<Vec<_>>());
        server.join().unwrap();
    }
}
