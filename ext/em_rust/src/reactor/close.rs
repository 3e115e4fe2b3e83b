//! Closing: now, after writing, at the end of the turn, and everything at shutdown.
use super::descriptor::{Kind, Proxy, State};
use super::table::{Event, Table};
use super::watches::Inotify;
use std::os::fd::RawFd;

impl Table {
    /// Closes now (unbind this turn) or after the outbound buffer drains.
    pub fn close(&mut self, sig: u64, after_writing: bool) {
        let Some(d) = self.entries.get_mut(&sig) else { return };
        if after_writing && d.close_after_writing {
            // Already closing after writing: a second call changes nothing (EM).
        } else if after_writing && d.kind == Kind::Stream && d.connecting() {
            // Whatever was queued goes out once the connect completes.
            d.close_after_writing = true;
        } else if after_writing && d.kind == Kind::Stream && !d.outbound.is_empty() && d.state == State::Open {
            d.close_after_writing = true;
            self.update_interest(sig, false);
        } else {
            self.schedule_close(sig, 0);
        }
    }

    pub(super) fn schedule_close(&mut self, sig: u64, errno: i32) {
        let Some(d) = self.entries.get_mut(&sig) else { return };
        if !d.closing {
            d.closing = true;
            self.closing.push((sig, errno));
        }
    }

    pub(super) fn close_now(&mut self, sig: u64, errno: i32) {
        let Some(mut d) = self.entries.remove(&sig) else { return };
        // Closing an fd of our own takes it out of the poll set; one its owner keeps
        // open must leave it. (An event for a signature already gone is dropped.)
        if d.interest.is_some() && !d.owned {
            let _ = self.registry.deregister(&d.fd);
        }
        if let Some(tls) = d.tls.session_mut().filter(|t| t.handshaken()) {
            tls.shutdown();
        }
        if d.kind == Kind::Stream && d.owned {
            discard_unread(d.fd);
        }
        for sibling in &d.sibling_listeners {
            if let Some(mut s) = self.entries.remove(sibling) {
                let _ = self.registry.deregister(&s.fd);
                s.sibling_listeners.clear();
            }
        }
        if d.kind == Kind::Acceptor && !d.owned {
            // An attached listening socket stays open for its owner, but stops
            // listening (later connects are refused, as after EM's close).
            // SAFETY: `d.fd` is open (its owner keeps it; this descriptor never closes it); shutdown passes no memory.
            unsafe { libc::shutdown(d.fd, libc::SHUT_RDWR) };
        }
        self.events.push_back(Event::Unbound { sig, errno });
        for source in &d.proxied_from {
            if let Some(s) = self.entries.get_mut(source) {
                s.proxy = None;
                self.events.push_back(Event::ProxyTargetUnbound { sig: *source });
            }
        }
        if let Some(Proxy { target, .. }) = &d.proxy {
            if let Some(t) = self.entries.get_mut(target) {
                t.proxied_from.retain(|s| *s != sig);
            }
        }
    }

    /// Closes everything (the reactor is shutting down): one Unbound each.
    pub fn close_all(&mut self) {
        if let Some((sig, inotify)) = self.inotify.take() {
            if let Some(mut d) = self.entries.remove(&sig) {
                let _ = self.registry.deregister(&d.fd);
                d.owned = false;
            }
            let watches: Vec<u64> = inotify_sigs(&inotify);
            drop(inotify);
            for sig in watches {
                self.events.push_back(Event::Unbound { sig, errno: 0 });
            }
        }
        let sigs: Vec<u64> = self.entries.keys().copied().collect();
        self.ready.clear();
        self.carry.clear();
        for sig in sigs {
            self.close_now(sig, 0);
        }
    }

    /// The end of the reactor: closes whatever the last unbinds opened, then lets go
    /// of the poll set, so the process holds no descriptor of this run.
    pub fn release(&mut self) {
        self.close_all();
        self.events.clear();
        self.registry.release();
    }

    /// Connections whose close is scheduled and not yet done (EM.num_close_scheduled).
    pub fn close_scheduled(&self) -> usize {
        let after_writing = self.entries.values().filter(|d| d.close_after_writing && !d.closing);
        self.closing.len() + after_writing.count()
    }
}

fn inotify_sigs(inotify: &Inotify) -> Vec<u64> {
    inotify.signatures()
}

/// Reads and drops what is waiting (bounded): closing a socket with unread input
/// makes the kernel reset the connection, and the peer then loses data still in
/// flight to it (e.g. the TLS 1.3 session tickets a client never reads).
fn discard_unread(fd: RawFd) {
    let mut scratch = [0u8; 16 * 1024];
    for _ in 0..16 {
        // SAFETY: `scratch` is a live local buffer and its own length is passed, so recv writes inside it.
        let n = unsafe { libc::recv(fd, scratch.as_mut_ptr().cast(), scratch.len(), libc::MSG_DONTWAIT) };
        if n <= 0 {
            return;
        }
    }
}
