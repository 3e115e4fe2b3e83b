//! The mapping of Rust errors to Ruby exceptions (argument checks raise their own
//! ArgumentError where they are). EventMachine's classes are
//! declared in lib/em_rust/errors.rb, which loads before the native library: `init`
//! checks that they exist and caches them, so raising never looks a class up by
//! name. RethinkDB's classes are defined later (lib/em_rust/rethinkdb), so those are
//! looked up when raised.
use crate::reactor::open::ConnectError;
use crate::reactor::tls::TlsError;
use crate::rethinkdb::ProtocolError;
use magnus::{prelude::*, value::Lazy, Error, ExceptionClass, RModule, Ruby, Value};
use std::io;

fn em_class(ruby: &Ruby, name: &str) -> ExceptionClass {
    let em: RModule = ruby.class_object().const_get("EventMachine").expect("checked by errors::init");
    em.const_get(name).expect("checked by errors::init")
}

static CONNECTION_ERROR: Lazy<ExceptionClass> = Lazy::new(|ruby| em_class(ruby, "ConnectionError"));
static INVALID_SIGNATURE: Lazy<ExceptionClass> = Lazy::new(|ruby| em_class(ruby, "InvalidSignature"));
static INVALID_PRIVATE_KEY: Lazy<ExceptionClass> = Lazy::new(|ruby| em_class(ruby, "InvalidPrivateKey"));
static BAD_PARAMS: Lazy<ExceptionClass> = Lazy::new(|ruby| em_class(ruby, "BadParams"));
static SYSTEM_CALL_ERROR: Lazy<ExceptionClass> =
    Lazy::new(|ruby| ruby.class_object().const_get("SystemCallError").expect("core class"));

/// Fails the library's load if lib/em_rust/errors.rb has not defined EM's classes.
pub fn init(ruby: &Ruby) -> Result<(), Error> {
    let em: RModule = ruby.class_object().const_get("EventMachine")?;
    for name in ["ConnectionError", "InvalidSignature", "InvalidPrivateKey", "BadParams"] {
        let _: ExceptionClass = em.const_get(name)?;
    }
    for class in [&CONNECTION_ERROR, &INVALID_SIGNATURE, &INVALID_PRIVATE_KEY, &BAD_PARAMS, &SYSTEM_CALL_ERROR] {
        Lazy::force(class, ruby);
    }
    Ok(())
}

pub fn runtime_error(ruby: &Ruby, message: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ruby.exception_runtime_error(), message)
}

/// An OS error from the reactor's own machinery (epoll, timerfd, eventfd).
pub fn io_error(ruby: &Ruby, err: io::Error) -> Error {
    runtime_error(ruby, format!("em_rust reactor: {err}"))
}

/// A failed system call on the caller's behalf: the Errno class for its errno
/// (SystemCallError.new picks it), as Ruby's own IO raises.
pub fn errno(ruby: &Ruby, err: io::Error) -> Error {
    let Some(errno) = err.raw_os_error() else { return io_error(ruby, err) };
    match ruby.get_inner(&SYSTEM_CALL_ERROR).funcall::<_, _, magnus::Exception>("new", (ruby.qnil(), errno)) {
        Ok(exception) => exception.into(),
        Err(e) => e,
    }
}

/// EM's ConnectionError messages for a connect that could not start.
pub fn connect(ruby: &Ruby, host: &str, err: ConnectError) -> Error {
    let message = match err {
        ConnectError::Resolve(e) => format!("unable to resolve address: {}", resolver_text(&e)),
        ConnectError::BindResolve(e) => format!("invalid bind address: {}", resolver_text(&e)),
        ConnectError::Bind(_) => "couldn't bind to address".to_string(),
        ConnectError::Other(e) => format!("unable to connect to {host}: {e}"),
    };
    Error::new(ruby.get_inner(&CONNECTION_ERROR), message)
}

/// getaddrinfo's own text ("Name or service not known"), without std's prefix.
fn resolver_text(err: &io::Error) -> String {
    let text = err.to_string();
    text.strip_prefix("failed to lookup address information: ").unwrap_or(&text).to_string()
}

pub fn invalid_signature(ruby: &Ruby, message: &'static str) -> Error {
    Error::new(ruby.get_inner(&INVALID_SIGNATURE), message)
}

/// start_tls's failures: EM's InvalidPrivateKey and BadParams, else RuntimeError.
pub fn tls(ruby: &Ruby, err: TlsError) -> Error {
    match err {
        TlsError::InvalidPrivateKey(msg) => Error::new(ruby.get_inner(&INVALID_PRIVATE_KEY), msg),
        TlsError::BadParams(msg) => runtime_error(ruby, msg),
        TlsError::NoHostToVerify => Error::new(
            ruby.get_inner(&BAD_PARAMS),
            "certificate verification (ca_file, ca_path or ca_default) needs a host name to check: \
             give :sni_hostname, or verify_hostname: false to accept any name",
        ),
    }
}

/// The RethinkDB driver's classes (ReqlAuthError, ReqlDriverError), RuntimeError
/// until the Ruby layer has defined them.
pub fn reql(ruby: &Ruby, err: &ProtocolError) -> Error {
    let class = match err {
        ProtocolError::Auth(_) => class_at(ruby, &["RethinkDB", "ReqlAuthError"])
            .or_else(|| class_at(ruby, &["RethinkDB", "ReqlDriverError"])),
        ProtocolError::Driver(_) => class_at(ruby, &["RethinkDB", "ReqlDriverError"]),
    };
    Error::new(class.unwrap_or_else(|| ruby.exception_runtime_error()), err.message().to_string())
}

/// The exception class at `path` if the Ruby layer has defined it by now.
fn class_at(ruby: &Ruby, path: &[&str]) -> Option<ExceptionClass> {
    use magnus::rb_sys::{AsRawId, AsRawValue};
    let mut module: Value = ruby.class_object().as_value();
    for name in path {
        let id = ruby.intern(name);
        // SAFETY: both arguments are live Ruby values; the call only reads the constant table.
        if unsafe { rb_sys::rb_const_defined_at(module.as_raw(), id.as_raw()) } == 0 {
            return None;
        }
        module = module.funcall("const_get", (magnus::Symbol::from(id), false)).ok()?;
    }
    ExceptionClass::from_value(module)
}
