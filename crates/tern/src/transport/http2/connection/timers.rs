//! The timers: the handshake deadline, the SETTINGS ack, an unfinished header block, the
//! graceful shutdown's PING, and keepalive. The caller asks `next_timeout` when to call back
//! and passes the time to `handle_timeout`; nothing here reads a clock.

use std::time::Instant;

use super::super::frame::{encode, ErrorCode};
use super::{Connection, Phase, Shutdown, KEEPALIVE_PING};

impl Connection {
    /// The timers: handshake, SETTINGS ack, unfinished header block, graceful shutdown.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        if self.phase != Phase::Open && self.handshake_deadline.is_some_and(|d| now >= d) {
            self.fail(ErrorCode::ProtocolError, "connection preface timed out");
            return;
        }
        if self
            .unacked_settings
            .front()
            .is_some_and(|(_, d)| now >= *d)
        {
            self.fail(
                ErrorCode::SettingsTimeout,
                "SETTINGS not acknowledged in time",
            );
            return;
        }
        if self.block.as_ref().is_some_and(|b| now >= b.deadline) {
            self.fail(ErrorCode::EnhanceYourCalm, "header_block_timeout");
            return;
        }
        if let Shutdown::Draining { deadline } = self.shutdown {
            if now >= deadline {
                self.final_goaway(ErrorCode::NoError, b"");
            }
        }
        if self.keepalive_deadline.is_some_and(|d| now >= d) {
            self.fail(ErrorCode::NoError, "keepalive ping not acknowledged");
            return;
        }
        if self.keepalive_deadline.is_none() && self.keepalive_due().is_some_and(|d| now >= d) {
            encode::ping(&mut self.out, KEEPALIVE_PING, false);
            self.keepalive_deadline = Some(
                now.checked_add(self.config.keepalive_timeout)
                    .unwrap_or(now),
            );
        }
    }

    /// When a keepalive PING is due, if keepalive is on and none is out.
    fn keepalive_due(&self) -> Option<Instant> {
        if self.keepalive_deadline.is_some() || self.phase != Phase::Open {
            return None;
        }
        self.last_frame_at
            .checked_add(self.config.keepalive_interval?)
    }

    /// When `handle_timeout` should be called next, if any timer runs.
    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let handshake = self
            .handshake_deadline
            .filter(|_| self.phase != Phase::Open);
        let settings = self.unacked_settings.front().map(|(_, d)| *d);
        let block = self.block.as_ref().map(|b| b.deadline);
        let shutdown = match self.shutdown {
            Shutdown::Draining { deadline } => Some(deadline),
            _ => None,
        };
        [
            handshake,
            settings,
            block,
            shutdown,
            self.keepalive_deadline,
            self.keepalive_due(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
