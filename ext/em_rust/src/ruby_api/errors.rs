//! Ruby exceptions raised from Rust, in one place.
use magnus::{Error, Ruby};

pub fn runtime_error(ruby: &Ruby, message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ruby.exception_runtime_error(), message)
}

/// An OS error from the reactor's own machinery (epoll, timerfd, eventfd).
pub fn io_error(ruby: &Ruby, err: std::io::Error) -> Error {
    runtime_error(ruby, format!("em_rust reactor: {err}"))
}
