//! A connection's TLS lifecycle: start_tls (now or once connected), the
//! handshake steps (taken outside the table by the glue), completion.
use super::descriptor::{Kind, Tls};
use super::table::{Event, Table};
use super::tls::{TlsError, TlsParams};
use super::tls_session::{Progress, TlsSession};
use std::io;
use std::time::Instant;

impl Table {
    /// Starts TLS on an open connection and takes the first handshake step.
    pub(super) fn begin_tls(&mut self, sig: u64, params: &TlsParams) -> Result<(), TlsError> {
        let d = self.entries.get_mut(&sig).expect("caller checked");
        d.tls = Tls::On { session: Box::new(TlsSession::new(d.fd, params, d.is_server_side, sig)?), want_write: false };
        self.tls_handshake(sig);
        Ok(())
    }

    /// One handshake step in place (the first one, which never asks for
    /// verification: see `TlsStep` for the others).
    pub(super) fn tls_handshake(&mut self, sig: u64) {
        let Some(mut session) = self.take_tls_step(sig) else { return };
        let progress = session.handshake();
        self.finish_tls_step(sig, session, progress);
    }

    /// Takes a connection's TLS session out for a handshake step, if it still
    /// needs one. Until `finish_tls_step`, the connection holds its sends and
    /// takes no other step.
    pub fn take_tls_step(&mut self, sig: u64) -> Option<Box<TlsSession>> {
        let d = self.entries.get_mut(&sig)?;
        if !matches!(&d.tls, Tls::On { session, .. } if !session.handshaken()) {
            return None;
        }
        match std::mem::replace(&mut d.tls, Tls::Stepping) {
            Tls::On { session, .. } => Some(session),
            _ => unreachable!("checked above"),
        }
    }

    /// Puts the session back and acts on the step's outcome (the connection may
    /// have closed or detached meanwhile: the session is then dropped).
    pub fn finish_tls_step(&mut self, sig: u64, session: Box<TlsSession>, progress: io::Result<Progress>) {
        let Some(d) = self.entries.get_mut(&sig) else { return };
        d.tls = Tls::On { session, want_write: false };
        match progress {
            Ok(Progress::Done(_)) => {
                d.tls.set_want_write(false);
                d.last_activity = Instant::now();
                self.events.push_back(Event::TlsHandshaken { sig });
                self.update_interest(sig, false);
                self.flush(sig);
                // Application data may have arrived with the last handshake flight.
                self.carry.push(sig);
            }
            Ok(Progress::WantRead) => {
                d.tls.set_want_write(false);
                self.update_interest(sig, false);
            }
            Ok(Progress::WantWrite) => {
                d.tls.set_want_write(true);
                self.update_interest(sig, false);
            }
            Ok(Progress::Closed) => self.schedule_close(sig, libc::ECONNRESET),
            Err(e) => self.schedule_close(sig, e.raw_os_error().unwrap_or(libc::EPROTO)),
        }
    }

    /// `start_tls`: now on an open connection, or once a pending connect completes.
    pub fn start_tls(&mut self, sig: u64, params: TlsParams) -> Result<(), TlsError> {
        let Some(d) = self.entries.get_mut(&sig) else { return Ok(()) };
        if d.kind != Kind::Stream || matches!(d.tls, Tls::On { .. } | Tls::Stepping) {
            return Ok(());
        }
        params.check(d.is_server_side)?;
        if d.connecting() {
            d.tls = Tls::Pending(Box::new(params));
            return Ok(());
        }
        // Bytes sent before start_tls go out in the clear, ahead of the handshake
        // (STARTTLS); if the socket cannot take them all now, TLS starts once it has.
        if !d.outbound.is_empty() {
            let drained = d.outbound.flush(d.fd).map_err(|e| TlsError::BadParams(e.to_string()))?;
            if !drained {
                d.tls = Tls::Pending(Box::new(params));
                self.update_interest(sig, false);
                return Ok(());
            }
        }
        self.begin_tls(sig, &params)
    }

    pub fn tls(&self, sig: u64) -> Option<&TlsSession> {
        self.entries.get(&sig).and_then(|d| d.tls.session())
    }
}
