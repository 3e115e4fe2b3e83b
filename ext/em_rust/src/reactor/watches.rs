//! Kernel-side watches that report through the poll set: inotify for `watch_file`,
//! pidfds for `watch_process`, and a socketpair for `popen`'s child stdio.
use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

/// What a file watch saw: EM hands these to `FileWatch#receive_data`.
pub const MODIFIED: &str = "modified";
pub const MOVED: &str = "moved";
pub const DELETED: &str = "deleted";

pub struct Inotify {
    pub fd: RawFd,
    by_wd: HashMap<i32, u64>,
    by_sig: HashMap<u64, i32>,
}

/// One inotify record: the watch's signature and what happened (None = the
/// kernel dropped the watch, e.g. after a delete).
pub type FileNotice = (u64, Option<&'static str>);

impl Inotify {
    pub fn new() -> io::Result<Self> {
        // SAFETY: inotify_init1 takes flags only; the result is checked.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Inotify { fd, by_wd: HashMap::new(), by_sig: HashMap::new() })
    }

    pub fn add(&mut self, path: &str, sig: u64) -> io::Result<()> {
        let c_path = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let mask = libc::IN_MODIFY | libc::IN_ATTRIB | libc::IN_MOVE_SELF | libc::IN_DELETE_SELF;
        // SAFETY: `c_path` is a NUL-terminated CString alive for the call; `self.fd` is this Inotify's open fd.
        let wd = unsafe { libc::inotify_add_watch(self.fd, c_path.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        self.by_wd.insert(wd, sig);
        self.by_sig.insert(sig, wd);
        Ok(())
    }

    /// Stops a watch; false if the signature is not a live watch.
    pub fn remove(&mut self, sig: u64) -> bool {
        let Some(wd) = self.by_sig.remove(&sig) else { return false };
        self.by_wd.remove(&wd);
        // SAFETY: `wd` came from inotify_add_watch on `self.fd`, which is open; no memory passed.
        unsafe { libc::inotify_rm_watch(self.fd, wd) };
        true
    }

    pub fn watches(&self, sig: u64) -> bool {
        self.by_sig.contains_key(&sig)
    }

    pub fn signatures(&self) -> Vec<u64> {
        self.by_sig.keys().copied().collect()
    }

    /// Reads every pending record.
    pub fn drain(&mut self) -> Vec<FileNotice> {
        let mut notices = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            // SAFETY: `buf` is live and its own length is passed, so read writes inside it.
            let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return notices;
            }
            let mut at = 0usize;
            while at + std::mem::size_of::<libc::inotify_event>() <= n as usize {
                // SAFETY: the loop condition keeps the event within the `n` bytes read; any alignment is fine.
                let event = unsafe { std::ptr::read_unaligned(buf.as_ptr().add(at) as *const libc::inotify_event) };
                at += std::mem::size_of::<libc::inotify_event>() + event.len as usize;
                let Some(&sig) = self.by_wd.get(&event.wd) else { continue };
                if event.mask & libc::IN_IGNORED != 0 {
                    self.by_wd.remove(&event.wd);
                    self.by_sig.remove(&sig);
                    notices.push((sig, None));
                    continue;
                }
                let what = if event.mask & libc::IN_DELETE_SELF != 0 {
                    DELETED
                } else if event.mask & libc::IN_MOVE_SELF != 0 {
                    MOVED
                } else {
                    MODIFIED
                };
                notices.push((sig, Some(what)));
            }
        }
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        // SAFETY: `self.fd` is owned by this Inotify and closed only here, once.
        unsafe { libc::close(self.fd) };
    }
}

/// A pidfd: readable once the process exits.
pub fn pidfd_open(pid: i32) -> io::Result<RawFd> {
    // SAFETY: pidfd_open takes a pid and flags, no memory; the result is checked.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd as RawFd)
}

/// Starts `argv` with its stdin and stdout on one end of a socketpair (stderr is
/// inherited, as in EM) and returns the other end and the child's pid.
pub fn spawn(argv: &[String]) -> io::Result<(RawFd, u32)> {
    let (ours, theirs) = UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    let stdin: OwnedFd = theirs.try_clone()?.into();
    let stdout: OwnedFd = theirs.into();
    let (program, args) = argv.split_first().ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut command = Command::new(program);
    command.args(args);
    let child = match command.stdin(Stdio::from(stdin.try_clone()?)).stdout(Stdio::from(stdout.try_clone()?)).spawn() {
        Ok(child) => child,
        // As with fork+exec, a command that cannot be executed still makes a child,
        // which reports the failure and exits 127 (the shell's convention).
        Err(e) if matches!(e.kind(), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied) => {
            Command::new("/bin/sh")
                .arg("-c")
                .arg("exec \"$0\" \"$@\"")
                .arg(program)
                .args(args)
                .stdin(Stdio::from(stdin))
                .stdout(Stdio::from(stdout))
                .spawn()?
        }
        Err(e) => return Err(e),
    };
    Ok((ours.into_raw_fd(), child.id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inotify_reports_modify_and_delete() {
        let dir = std::env::temp_dir().join(format!("em_rust_watch_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("f");
        std::fs::write(&file, b"a").unwrap();
        let mut ino = Inotify::new().unwrap();
        ino.add(file.to_str().unwrap(), 9).unwrap();
        std::fs::write(&file, b"b").unwrap();
        std::fs::remove_file(&file).unwrap();
        let notices = ino.drain();
        assert!(notices.contains(&(9, Some(MODIFIED))));
        assert!(notices.contains(&(9, Some(DELETED))));
        assert!(!ino.remove(12345));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn spawn_wires_stdin_and_stdout_to_one_socket() {
        let (fd, pid) = spawn(&["cat".to_string()]).unwrap();
        assert!(pid > 0);
        let msg = b"round trip";
        // SAFETY: `msg` is live and its own length is passed; `fd` is the test's open socket.
        assert_eq!(unsafe { libc::write(fd, msg.as_ptr().cast(), msg.len()) }, msg.len() as isize);
        let mut buf = [0u8; 64];
        let mut got = 0;
        for _ in 0..200 {
            // SAFETY: `got` < 64 here, so the pointer and `64 - got` stay inside `buf`.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().add(got).cast(), 64 - got) };
            if n > 0 {
                got += n as usize;
            }
            if got >= msg.len() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(&buf[..got], msg);
        // SAFETY: the test owns `fd` (from spawn) and closes it once.
        unsafe { libc::close(fd) };
        let mut status = 0;
        // SAFETY: `status` is a live local int for waitpid to write.
        unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    }
}
