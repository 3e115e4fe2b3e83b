//! Ruby exceptions raised from Rust, in one place.
use magnus::{Error, Ruby};

pub fn runtime_error(ruby: &Ruby, message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ruby.exception_runtime_error(), message)
}

/// An OS error from the reactor's own machinery (epoll, timerfd, eventfd).
pub fn io_error(ruby: &Ruby, err: std::io::Error) -> Error {
    runtime_error(ruby, format!("em_rust reactor: {err}"))
}

/// The exception class at `path` (`["RethinkDB", "ReqlDriverError"]`) if the Ruby
/// layer has defined it by now; looked up at raise time, never cached.
pub fn class_at(ruby: &Ruby, path: &[&str]) -> Option<magnus::ExceptionClass> {
    use magnus::rb_sys::{AsRawId, AsRawValue};
    use magnus::value::ReprValue;
    let mut module = ruby.class_object().as_value();
    for name in path {
        let id = ruby.intern(name);
        // Defined in this module itself (or its ancestors), not merely at top level.
        if unsafe { rb_sys::rb_const_defined_at(module.as_raw(), id.as_raw()) } == 0 {
            return None;
        }
        module = module.funcall("const_get", (magnus::Symbol::from(id), false)).ok()?;
    }
    magnus::ExceptionClass::from_value(module)
}
