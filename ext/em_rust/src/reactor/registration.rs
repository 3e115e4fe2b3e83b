//! The poll set's registry as the table uses it.
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::RawFd;

/// The poll set's registry until the reactor is released: then registering fails
/// and deregistering is moot (the epoll descriptor is closed).
pub(super) struct Registration(Option<Registry>);

impl Registration {
    pub(super) fn new(registry: Registry) -> Self {
        Registration(Some(registry))
    }

    /// Lets go of the poll set (the reactor is released).
    pub(super) fn release(&mut self) {
        self.0 = None;
    }

    pub(super) fn get(&self) -> io::Result<&Registry> {
        self.0.as_ref().ok_or_else(|| io::Error::other("the reactor has been released"))
    }

    pub(super) fn register(&self, fd: &RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.get()?.register(&mut SourceFd(fd), token, interest)
    }

    pub(super) fn reregister(&self, fd: &RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.get()?.reregister(&mut SourceFd(fd), token, interest)
    }

    pub(super) fn deregister(&self, fd: &RawFd) -> io::Result<()> {
        self.get()?.deregister(&mut SourceFd(fd))
    }
}
