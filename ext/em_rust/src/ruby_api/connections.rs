//! EventMachine's connection binding functions (EM's C names, by signature) as
//! methods of the Machine. Argument conversion only (errors map through errors.rs);
//! the work is in the descriptor table (`reactor::table` and its concern files).
use super::errors;
use super::machine::Machine;
use crate::reactor::descriptor::Kind;
use crate::reactor::outbound::HOLD_MIN;
use crate::reactor::table::Event;
use magnus::{method, prelude::*, Error, RClass, RString, Ruby, Value};
use std::io;
use std::path::Path;
use std::time::Duration;

fn seconds(duration: Option<Duration>) -> f64 {
    duration.map_or(0.0, |d| d.as_secs_f64())
}

impl Machine {
    fn connect_server(ruby: &Ruby, rb_self: &Self, host: String, port: u16) -> Result<u64, Error> {
        rb_self.reactor.table.borrow_mut().connect(&host, port, None).map_err(|e| errors::connect(ruby, &host, e))
    }

    fn bind_connect_server(
        ruby: &Ruby,
        rb_self: &Self,
        bind_host: String,
        bind_port: u16,
        host: String,
        port: u16,
    ) -> Result<u64, Error> {
        rb_self
            .reactor
            .table
            .borrow_mut()
            .connect(&host, port, Some((&bind_host, bind_port)))
            .map_err(|e| errors::connect(ruby, &host, e))
    }

    fn connect_unix_server(ruby: &Ruby, rb_self: &Self, path: String) -> Result<u64, Error> {
        rb_self
            .reactor
            .table
            .borrow_mut()
            .connect_unix(Path::new(&path))
            .map_err(|_| errors::runtime_error(ruby, "no connection"))
    }

    fn start_tcp_server(ruby: &Ruby, rb_self: &Self, host: String, port: u16, reuse_port: bool) -> Result<u64, Error> {
        rb_self.reactor.table.borrow_mut().listen(&host, port, reuse_port).map_err(|e| acceptor_error(ruby, e))
    }

    fn start_unix_server(ruby: &Ruby, rb_self: &Self, path: String) -> Result<u64, Error> {
        rb_self
            .reactor
            .table
            .borrow_mut()
            .listen_unix(Path::new(&path))
            .map_err(|_| errors::runtime_error(ruby, "no unix-domain acceptor"))
    }

    fn open_udp_socket(ruby: &Ruby, rb_self: &Self, host: String, port: u16) -> Result<u64, Error> {
        rb_self
            .reactor
            .table
            .borrow_mut()
            .open_udp(&host, port)
            .map_err(|_| errors::runtime_error(ruby, "no datagram socket"))
    }

    /// `attach_fd(fd, watch_mode)`; `attach_sd(fd)` for a listening socket.
    fn attach_fd(ruby: &Ruby, rb_self: &Self, fd: i32, watch_mode: bool) -> Result<u64, Error> {
        let kind = if watch_mode { Kind::Watch } else { Kind::Stream };
        rb_self.reactor.table.borrow_mut().attach(fd, kind).map_err(|e| errors::io_error(ruby, e))
    }

    fn attach_sd(ruby: &Ruby, rb_self: &Self, fd: i32) -> Result<u64, Error> {
        rb_self.reactor.table.borrow_mut().attach(fd, Kind::Acceptor).map_err(|e| errors::io_error(ruby, e))
    }

    fn detach_fd(&self, sig: u64) -> Option<i32> {
        self.reactor.table.borrow_mut().detach(sig)
    }

    /// Bytes queued, or -1 for a connection that is gone (EM's answer).
    pub(super) fn send_data(ruby: &Ruby, rb_self: &Self, sig: u64, data: RString) -> i64 {
        let accepted = if data.len() >= HOLD_MIN {
            let held = rb_self.held.hold(ruby, data);
            rb_self.reactor.table.borrow_mut().send_held(sig, held)
        } else {
            // SAFETY: `send` only copies the bytes into the Outbound: no Ruby code or allocation while they are borrowed.
            let bytes = unsafe { super::raw::str_bytes(&data) };
            rb_self.reactor.table.borrow_mut().send(sig, bytes)
        };
        // From another thread, while the reactor waits: wake it to write (a no-op on
        // the reactor thread, which is awake).
        rb_self.reactor.wakeup.nudge();
        accepted
    }

    fn send_datagram(
        ruby: &Ruby,
        rb_self: &Self,
        sig: u64,
        data: RString,
        host: String,
        port: u16,
    ) -> Result<usize, Error> {
        // SAFETY: the bytes are copied (to_vec) before any Ruby code can run.
        let bytes = unsafe { super::raw::str_bytes(&data) }.to_vec();
        rb_self
            .reactor
            .table
            .borrow_mut()
            .send_datagram(sig, &bytes, &host, port)
            .map_err(|e| errors::io_error(ruby, e))
    }

    fn close_connection(&self, sig: u64, after_writing: bool) {
        self.reactor.table.borrow_mut().close(sig, after_writing);
    }

    fn pause_connection(&self, sig: u64) -> bool {
        self.reactor.table.borrow_mut().set_paused(sig, true)
    }

    fn resume_connection(&self, sig: u64) -> bool {
        let changed = self.reactor.table.borrow_mut().set_paused(sig, false);
        self.reactor.wakeup.nudge();
        changed
    }

    fn num_close_scheduled(&self) -> usize {
        self.reactor.table.borrow().close_scheduled()
    }

    fn simultaneous_accept_count(&self) -> usize {
        self.reactor.table.borrow().accepts_per_turn
    }

    fn set_simultaneous_accept_count(&self, count: usize) {
        self.reactor.table.borrow_mut().accepts_per_turn = count.max(1);
    }

    fn connection_paused(&self, sig: u64) -> bool {
        self.reactor.table.borrow().get(sig).is_some_and(|d| d.paused())
    }

    fn outbound_data_size(&self, sig: u64) -> usize {
        self.reactor.table.borrow().get(sig).map_or(0, |d| d.outbound_len())
    }

    fn peername(ruby: &Ruby, rb_self: &Self, sig: u64) -> Option<RString> {
        rb_self.reactor.table.borrow_mut().peername(sig).map(|b| ruby.str_from_slice(&b))
    }

    fn sockname(ruby: &Ruby, rb_self: &Self, sig: u64) -> Option<RString> {
        rb_self.reactor.table.borrow().sockname(sig).map(|b| ruby.str_from_slice(&b))
    }

    fn comm_inactivity_timeout(&self, sig: u64) -> f64 {
        seconds(self.reactor.table.borrow().get(sig).and_then(|d| d.inactivity_timeout()))
    }

    fn set_comm_inactivity_timeout(&self, sig: u64, secs: f64) -> bool {
        self.reactor.table.borrow_mut().set_inactivity_timeout(sig, (secs > 0.0).then(|| Duration::from_secs_f64(secs)))
    }

    fn pending_connect_timeout(&self, sig: u64) -> f64 {
        seconds(self.reactor.table.borrow().get(sig).map(|d| d.connect_timeout()))
    }

    fn set_pending_connect_timeout(&self, sig: u64, secs: f64) -> bool {
        self.reactor.table.borrow_mut().set_connect_timeout(sig, (secs > 0.0).then(|| Duration::from_secs_f64(secs)))
    }

    fn idle_time(&self, sig: u64) -> Option<f64> {
        self.reactor.table.borrow().get(sig).map(|d| d.idle_for().as_secs_f64())
    }

    fn get_sock_opt(ruby: &Ruby, rb_self: &Self, sig: u64, level: i32, opt: i32) -> Result<RString, Error> {
        let bytes = rb_self.reactor.table.borrow().get_sock_opt(sig, level, opt).map_err(|e| errors::errno(ruby, e))?;
        Ok(ruby.str_from_slice(&bytes))
    }

    fn set_sock_opt(ruby: &Ruby, rb_self: &Self, sig: u64, level: i32, opt: i32, value: Value) -> Result<i32, Error> {
        let bytes = match magnus::Integer::from_value(value) {
            Some(i) => i.to_i32()?.to_ne_bytes().to_vec(),
            None if value.is_kind_of(ruby.class_true_class()) => 1i32.to_ne_bytes().to_vec(),
            None if value.is_kind_of(ruby.class_false_class()) => 0i32.to_ne_bytes().to_vec(),
            // SAFETY: the bytes are copied (to_vec) in this statement, while the String lives and no Ruby code runs.
            None => unsafe { super::raw::str_bytes(&RString::try_convert(value)?) }.to_vec(),
        };
        rb_self.reactor.table.borrow().set_sock_opt(sig, level, opt, &bytes).map_err(|e| errors::errno(ruby, e))?;
        Ok(0)
    }

    fn enable_keepalive(
        ruby: &Ruby,
        rb_self: &Self,
        sig: u64,
        idle: u32,
        interval: u32,
        count: u32,
    ) -> Result<i32, Error> {
        rb_self
            .reactor
            .table
            .borrow()
            .set_keepalive(sig, true, idle, interval, count)
            .map_err(|e| errors::errno(ruby, e))?;
        Ok(0)
    }

    fn disable_keepalive(ruby: &Ruby, rb_self: &Self, sig: u64) -> Result<i32, Error> {
        rb_self.reactor.table.borrow().set_keepalive(sig, false, 0, 0, 0).map_err(|e| errors::errno(ruby, e))?;
        Ok(0)
    }

    fn set_notify_readable(&self, sig: u64, on: bool) {
        self.reactor.table.borrow_mut().set_notify(sig, Some(on), None);
    }

    fn set_notify_writable(&self, sig: u64, on: bool) {
        self.reactor.table.borrow_mut().set_notify(sig, None, Some(on));
    }

    fn is_notify_readable(&self, sig: u64) -> bool {
        self.reactor.table.borrow().get(sig).is_some_and(|d| d.notify_readable())
    }

    fn is_notify_writable(&self, sig: u64) -> bool {
        self.reactor.table.borrow().get(sig).is_some_and(|d| d.notify_writable())
    }

    fn start_proxy(&self, from: u64, to: u64, _bufsize: u64, length: u64) -> bool {
        self.reactor.table.borrow_mut().start_proxy(from, to, length)
    }

    fn stop_proxy(&self, from: u64) {
        self.reactor.table.borrow_mut().stop_proxy(from);
    }

    fn proxied_bytes(&self, sig: u64) -> u64 {
        self.reactor.table.borrow().get(sig).map_or(0, |d| d.proxied_bytes())
    }

    fn file_descriptor(&self, sig: u64) -> Option<i32> {
        self.reactor.table.borrow().fd(sig)
    }

    fn watch_filename(ruby: &Ruby, rb_self: &Self, path: String) -> Result<u64, Error> {
        rb_self.reactor.table.borrow_mut().watch_file(&path).map_err(|e| errors::errno(ruby, e))
    }

    /// Ends a file watch and delivers its unbind before returning, as EM's
    /// UnwatchFile does, by the route of every other unbind (`deliver`).
    fn unwatch_filename(ruby: &Ruby, rb_self: &Self, sig: u64) -> Result<(), Error> {
        if !rb_self.reactor.table.borrow_mut().unwatch_file(sig) {
            return Err(errors::invalid_signature(ruby, "attempted to remove invalid watch signature"));
        }
        rb_self.deliver(ruby, Event::Unbound { sig, errno: 0 })
    }

    fn watch_pid(ruby: &Ruby, rb_self: &Self, pid: i32) -> Result<u64, Error> {
        rb_self.reactor.table.borrow_mut().watch_pid(pid).map_err(|e| errors::errno(ruby, e))
    }

    fn unwatch_pid(&self, sig: u64) {
        self.reactor.table.borrow_mut().close(sig, false);
    }

    fn popen(ruby: &Ruby, rb_self: &Self, argv: Vec<String>) -> Result<(u64, u32), Error> {
        rb_self.reactor.table.borrow_mut().popen(&argv).map_err(|e| errors::errno(ruby, e))
    }

    fn connection_count(&self) -> usize {
        self.reactor.table.borrow().connection_count()
    }

    fn known(&self, sig: u64) -> bool {
        self.reactor.table.borrow().get(sig).is_some()
    }
}

fn acceptor_error(ruby: &Ruby, _err: io::Error) -> Error {
    errors::runtime_error(ruby, "no acceptor (port is in use or requires root privileges)")
}

pub fn init(ruby: &Ruby, class: RClass) -> Result<(), Error> {
    let _ = ruby;
    class.define_method("connect_server", method!(Machine::connect_server, 2))?;
    class.define_method("bind_connect_server", method!(Machine::bind_connect_server, 4))?;
    class.define_method("connect_unix_server", method!(Machine::connect_unix_server, 1))?;
    class.define_method("start_tcp_server", method!(Machine::start_tcp_server, 3))?;
    class.define_method("start_unix_server", method!(Machine::start_unix_server, 1))?;
    class.define_method("open_udp_socket", method!(Machine::open_udp_socket, 2))?;
    class.define_method("attach_fd", method!(Machine::attach_fd, 2))?;
    class.define_method("attach_sd", method!(Machine::attach_sd, 1))?;
    class.define_method("detach_fd", method!(Machine::detach_fd, 1))?;
    class.define_method("send_datagram", method!(Machine::send_datagram, 4))?;
    class.define_method("close_connection", method!(Machine::close_connection, 2))?;
    class.define_method("pause_connection", method!(Machine::pause_connection, 1))?;
    class.define_method("resume_connection", method!(Machine::resume_connection, 1))?;
    class.define_method("connection_paused?", method!(Machine::connection_paused, 1))?;
    class.define_method("outbound_data_size", method!(Machine::outbound_data_size, 1))?;
    class.define_method("peername", method!(Machine::peername, 1))?;
    class.define_method("sockname", method!(Machine::sockname, 1))?;
    class.define_method("comm_inactivity_timeout", method!(Machine::comm_inactivity_timeout, 1))?;
    class.define_method("set_comm_inactivity_timeout", method!(Machine::set_comm_inactivity_timeout, 2))?;
    class.define_method("pending_connect_timeout", method!(Machine::pending_connect_timeout, 1))?;
    class.define_method("set_pending_connect_timeout", method!(Machine::set_pending_connect_timeout, 2))?;
    class.define_method("idle_time", method!(Machine::idle_time, 1))?;
    class.define_method("get_sock_opt", method!(Machine::get_sock_opt, 3))?;
    class.define_method("set_sock_opt", method!(Machine::set_sock_opt, 4))?;
    class.define_method("enable_keepalive", method!(Machine::enable_keepalive, 4))?;
    class.define_method("disable_keepalive", method!(Machine::disable_keepalive, 1))?;
    class.define_method("set_notify_readable", method!(Machine::set_notify_readable, 2))?;
    class.define_method("set_notify_writable", method!(Machine::set_notify_writable, 2))?;
    class.define_method("notify_readable?", method!(Machine::is_notify_readable, 1))?;
    class.define_method("notify_writable?", method!(Machine::is_notify_writable, 1))?;
    class.define_method("start_proxy", method!(Machine::start_proxy, 4))?;
    class.define_method("stop_proxy", method!(Machine::stop_proxy, 1))?;
    class.define_method("proxied_bytes", method!(Machine::proxied_bytes, 1))?;
    class.define_method("num_close_scheduled", method!(Machine::num_close_scheduled, 0))?;
    class.define_method("simultaneous_accept_count", method!(Machine::simultaneous_accept_count, 0))?;
    class.define_method("simultaneous_accept_count=", method!(Machine::set_simultaneous_accept_count, 1))?;
    class.define_method("file_descriptor", method!(Machine::file_descriptor, 1))?;
    class.define_method("connection_count", method!(Machine::connection_count, 0))?;
    class.define_method("known?", method!(Machine::known, 1))?;
    class.define_method("watch_filename", method!(Machine::watch_filename, 1))?;
    class.define_method("unwatch_filename", method!(Machine::unwatch_filename, 1))?;
    class.define_method("watch_pid", method!(Machine::watch_pid, 1))?;
    class.define_method("unwatch_pid", method!(Machine::unwatch_pid, 1))?;
    class.define_method("popen", method!(Machine::popen, 1))?;
    Ok(())
}
