//! Delivers a turn's steps to Ruby: due timers to their callbacks; data,
//! completion and the TLS handshake straight to the Connection object in `@conns`;
//! accept and unbind through the Ruby layer (`EM.event_accepted` /
//! `EM.event_unbound`), which builds and retires Connections. Every event reaches
//! Ruby through `deliver`, also the unbind of a file watch ended by
//! `unwatch_filename` (connections.rs).
use super::machine::Machine;
use super::raw;
use crate::reactor::core::Step;
use crate::reactor::table::Event;
use crate::reactor::tls_session::TlsSession;
use crate::reactor::tls_verify;
use magnus::{prelude::*, value::LazyId, Error, Ruby, Value};

static RECEIVE_DATA: LazyId = LazyId::new("receive_data");
static CONNECTION_COMPLETED: LazyId = LazyId::new("connection_completed");
static NOTIFY_READABLE: LazyId = LazyId::new("notify_readable");
static NOTIFY_WRITABLE: LazyId = LazyId::new("notify_writable");
static PROXY_TARGET_UNBOUND: LazyId = LazyId::new("proxy_target_unbound");
static PROXY_COMPLETED: LazyId = LazyId::new("proxy_completed");
static EVENT_ACCEPTED: LazyId = LazyId::new("event_accepted");
static EVENT_UNBOUND: LazyId = LazyId::new("event_unbound");
static SSL_HANDSHAKE_COMPLETED: LazyId = LazyId::new("ssl_handshake_completed");

enum Next {
    Step(Step),
    Handshake(u64, Box<TlsSession>),
    Again,
    Done,
}

impl Machine {
    /// Hands every step of this turn to Ruby, one at a time, in the reactor's order;
    /// the table is never borrowed while Ruby runs.
    pub(super) fn dispatch_turn(&self, ruby: &Ruby) -> Result<(), Error> {
        loop {
            match self.next_step(ruby)? {
                Some(Step::Timer(sig)) => self.fire_timer(ruby, sig)?,
                Some(Step::Io(event)) => {
                    let result = self.deliver(ruby, event);
                    self.handled(ruby, result)?;
                }
                None => return Ok(()),
            }
        }
    }

    /// The turn's next step for Ruby. TLS handshakes advance here, one step at a
    /// time with the session out of the table, and OpenSSL's verify callback asks
    /// Ruby's ssl_verify_peer during the step (EM's order), which may then use the
    /// connection as in EM.
    fn next_step(&self, ruby: &Ruby) -> Result<Option<Step>, Error> {
        loop {
            // Handshake steps run here, outside the table (no renegotiation: see
            // reactor::tls), so ssl_verify_peer may use the table.
            let next = match self.next_lending(ruby) {
                Some(Step::Io(Event::TlsStep { sig })) => match self.reactor.table.borrow_mut().take_tls_step(sig) {
                    Some(session) => Next::Handshake(sig, session),
                    None => Next::Again,
                },
                Some(step) => Next::Step(step),
                None => Next::Done,
            };
            let step = match next {
                Next::Step(step) => Some(step),
                Next::Done => None,
                Next::Again => continue,
                Next::Handshake(sig, mut session) => {
                    let mut failure = None;
                    let progress = tls_verify::with_verifier(
                        &mut |sig, pem, cipher| self.verify_peer(ruby, sig, pem, cipher, &mut failure),
                        || session.handshake(),
                    );
                    self.reactor.table.borrow_mut().finish_tls_step(sig, session, progress);
                    if let Some(e) = failure {
                        self.handled(ruby, Err(e))?;
                    }
                    continue;
                }
            };
            return Ok(step);
        }
    }

    /// Like `dispatch_turn`, but every event is delivered even if one raises (the
    /// reactor is shutting down: every connection gets its unbind; no timer is due
    /// any more); the first error is returned at the end.
    pub(super) fn dispatch_all(&self, ruby: &Ruby) -> Result<(), Error> {
        let mut first_error = None;
        loop {
            let step = match self.next_step(ruby) {
                Ok(step) => step,
                Err(e) => {
                    first_error.get_or_insert(e);
                    continue;
                }
            };
            let result = match step {
                Some(Step::Io(event)) => self.deliver(ruby, event),
                Some(Step::Timer(_)) => Ok(()),
                None => break,
            };
            if let Err(e) = self.handled(ruby, result) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    pub(super) fn deliver(&self, ruby: &Ruby, event: Event) -> Result<(), Error> {
        let em = ruby.get_inner(self.em).as_value();
        match event {
            Event::Read { sig, len, lent } => {
                let Some(conn) = self.connection(ruby, sig) else { return Ok(()) };
                let data = match lent {
                    true => self.take_lent(ruby, len),
                    false => ruby.str_from_slice(self.reactor.table.borrow().data(len)),
                };
                self.invoke(ruby, Some(sig), conn, &RECEIVE_DATA, &[data.as_value()])
            }
            Event::Notice { sig, what } => {
                let Some(conn) = self.connection(ruby, sig) else { return Ok(()) };
                self.invoke(ruby, Some(sig), conn, &RECEIVE_DATA, &[ruby.str_new(what).as_value()])
            }
            Event::Completed { sig } => self.notify(ruby, sig, &CONNECTION_COMPLETED),
            Event::NotifyReadable { sig } => self.notify(ruby, sig, &NOTIFY_READABLE),
            Event::NotifyWritable { sig } => self.notify(ruby, sig, &NOTIFY_WRITABLE),
            Event::ProxyTargetUnbound { sig } => self.notify(ruby, sig, &PROXY_TARGET_UNBOUND),
            Event::ProxyCompleted { sig } => self.notify(ruby, sig, &PROXY_COMPLETED),
            Event::Accepted { server, sig } => {
                self.invoke(ruby, Some(sig), em, &EVENT_ACCEPTED, &[int(ruby, server), int(ruby, sig)])
            }
            Event::TlsHandshaken { sig } => self.notify(ruby, sig, &SSL_HANDSHAKE_COMPLETED),
            Event::TlsStep { .. } => Ok(()), // taken in next_step
            Event::Unbound { sig, errno } => self.invoke(
                ruby,
                Some(sig),
                em,
                &EVENT_UNBOUND,
                &[int(ruby, sig), ruby.integer_from_i64(errno as i64).as_value()],
            ),
        }
    }

    fn notify(&self, ruby: &Ruby, sig: u64, method: &LazyId) -> Result<(), Error> {
        match self.connection(ruby, sig) {
            Some(conn) => self.invoke(ruby, Some(sig), conn, method, &[]),
            None => Ok(()),
        }
    }

    pub(super) fn connection(&self, ruby: &Ruby, sig: u64) -> Option<Value> {
        let conns = ruby.get_inner(self.conns);
        let conn = raw::hash_get(conns, ruby.integer_from_u64(sig).as_value());
        (!conn.is_nil()).then_some(conn)
    }
}

fn int(ruby: &Ruby, n: u64) -> Value {
    ruby.integer_from_u64(n).as_value()
}
