//! A connection's unsent bytes. `send_data` only appends here; the table writes
//! them at the start of the next turn (`Table::flush_queued`), several chunks per
//! system call (writev), and what the socket did not take drains on writability.
//! Large sends need not be copied: a `Held` chunk is the caller's memory, kept
//! alive and unchanged by the caller until the chunk is dropped.
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;

/// Small writes are appended to the last chunk, so thousands of tiny `send_data`
/// calls do not cost thousands of iovecs.
const COALESCE: usize = 16 * 1024;
/// The smallest send worth holding instead of copying (`Table::send_held`).
pub const HOLD_MIN: usize = COALESCE;

/// Bytes the reactor writes without copying them: their owner keeps them alive and
/// unchanged until this is dropped (written out, or the connection closed), and
/// learns of the drop through its own `Drop`.
pub type Held = Box<dyn AsRef<[u8]> + Send>;

enum Chunk {
    Owned(Vec<u8>),
    Held(Held),
}

impl Chunk {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Owned(v) => v,
            Chunk::Held(h) => (**h).as_ref(),
        }
    }
}
const MAX_IOVECS: usize = 64;

/// Written-out chunk buffers kept for reuse (per thread: the reactor's), so a
/// stream of large sends does not make the allocator hand pages back to the
/// kernel and fault them in again on every turn. Bounded in count and size.
const SPARE_COUNT: usize = 16;
const SPARE_MAX_CAPACITY: usize = 256 * 1024;

thread_local! {
    static SPARES: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn chunk_from(data: &[u8]) -> Vec<u8> {
    if data.len() < COALESCE {
        return data.to_vec(); // small sends coalesce into it; no big buffer held for them
    }
    let mut chunk = SPARES
        .with(|s| {
            let mut spares = s.borrow_mut();
            let at = spares.iter().rposition(|b| b.capacity() >= data.len())?;
            Some(spares.swap_remove(at))
        })
        .unwrap_or_default();
    chunk.extend_from_slice(data);
    chunk
}

fn recycle(mut chunk: Vec<u8>) {
    if chunk.capacity() < COALESCE || chunk.capacity() > SPARE_MAX_CAPACITY {
        return;
    }
    chunk.clear();
    SPARES.with(|s| {
        let mut spares = s.borrow_mut();
        if spares.len() < SPARE_COUNT {
            spares.push(chunk);
        }
    });
}

#[derive(Default)]
pub struct Outbound {
    chunks: VecDeque<Chunk>,
    /// Bytes of the front chunk already written.
    offset: usize,
    len: usize,
}

impl Outbound {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn push(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        match self.chunks.back_mut() {
            Some(Chunk::Owned(last)) if last.len() + data.len() <= COALESCE => last.extend_from_slice(data),
            _ => self.chunks.push_back(Chunk::Owned(chunk_from(data))),
        }
        self.len += data.len();
    }

    /// Queues the owner's bytes without copying them.
    pub fn push_held(&mut self, held: Held) {
        let len = (*held).as_ref().len();
        if len == 0 {
            return;
        }
        self.chunks.push_back(Chunk::Held(held));
        self.len += len;
    }

    /// Writes as much as `fd` takes. Ok(true) when the buffer is empty.
    pub fn flush(&mut self, fd: RawFd) -> io::Result<bool> {
        while !self.is_empty() {
            let n = match self.write_some(fd) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.consume(n);
        }
        Ok(true)
    }

    /// Writes through `write` (TLS): it returns Ok(None) when it cannot take more now.
    pub fn flush_with(&mut self, mut write: impl FnMut(&[u8]) -> io::Result<Option<usize>>) -> io::Result<bool> {
        while let Some(front) = self.chunks.front() {
            match write(&front.bytes()[self.offset..])? {
                Some(n) => self.consume(n),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    fn write_some(&self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: iovec is plain old data (a null pointer, length 0); only the first `count`, filled below, are passed.
        let mut iov: [libc::iovec; MAX_IOVECS] = unsafe { std::mem::zeroed() };
        let mut count = 0;
        for (i, chunk) in self.chunks.iter().take(MAX_IOVECS).enumerate() {
            let bytes = &chunk.bytes()[if i == 0 { self.offset } else { 0 }..];
            iov[i] = libc::iovec { iov_base: bytes.as_ptr() as *mut _, iov_len: bytes.len() };
            count += 1;
        }
        // SAFETY: the first `count` iovecs point into chunks `&self` keeps alive for the call; writev only reads them.
        let n = unsafe { libc::writev(fd, iov.as_ptr(), count as libc::c_int) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn consume(&mut self, mut n: usize) {
        self.len -= n;
        while n > 0 {
            let front = self.chunks.front().map_or(0, |c| c.bytes().len() - self.offset);
            if n >= front {
                n -= front;
                if let Some(Chunk::Owned(chunk)) = self.chunks.pop_front() {
                    recycle(chunk);
                }
                self.offset = 0;
            } else {
                self.offset += n;
                n = 0;
            }
        }
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.offset = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn drains_in_order_through_a_slow_reader() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut out = Outbound::default();
        let mut expected = Vec::new();
        for i in 0..20_000u32 {
            let piece = format!("{i},").into_bytes();
            expected.extend_from_slice(&piece);
            out.push(&piece);
        }
        let big = vec![7u8; 3 << 20];
        expected.extend_from_slice(&big);
        out.push(&big);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while !out.flush(a.as_raw_fd()).unwrap() || got.len() < expected.len() {
            let n = b.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert!(out.is_empty());
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
    }

    #[test]
    fn recycled_chunk_buffers_carry_no_stale_bytes() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut out = Outbound::default();
        let mut buf = vec![0u8; 1 << 20];
        for round in 0..50u8 {
            // Sizes vary so a reused buffer is sometimes bigger than what it holds.
            let size = 20_000 + (round as usize % 7) * 9_000;
            let data: Vec<u8> = (0..size).map(|i| (i as u8).wrapping_add(round)).collect();
            out.push(&data);
            out.push(&data[..size / 2]);
            let mut got = Vec::new();
            while !out.flush(a.as_raw_fd()).unwrap() || got.len() < size + size / 2 {
                let n = b.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(&got[..size], &data[..]);
            assert_eq!(&got[size..], &data[..size / 2]);
        }
        assert!(SPARES.with(|s| s.borrow().len()) <= SPARE_COUNT);
    }

    /// A held chunk that counts its drops.
    struct Counted(Vec<u8>, std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl AsRef<[u8]> for Counted {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn held_chunks_are_written_in_order_and_dropped_once_written_or_cleared() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let drops = std::sync::Arc::new(AtomicUsize::new(0));
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        let mut out = Outbound::default();
        let held: Vec<u8> = (0..(600 << 10)).map(|i| (i % 251) as u8).collect();
        out.push(b"head,");
        out.push_held(Box::new(Counted(held.clone(), drops.clone())));
        out.push(b",tail");
        out.push_held(Box::new(Counted(Vec::new(), drops.clone()))); // empty: dropped at once
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(out.len(), held.len() + 10);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while !out.flush(a.as_raw_fd()).unwrap() || got.len() < held.len() + 10 {
            let n = b.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert_eq!(&got[..5], b"head,");
        assert!(got[5..5 + held.len()] == held[..]);
        assert_eq!(&got[5 + held.len()..], b",tail");
        out.push_held(Box::new(Counted(vec![1; 100], drops.clone())));
        out.clear();
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert!(out.is_empty());
    }
}
