//! The flood budgets and the server's ping policy: what a peer may make the connection do
//! before it is told GOAWAY ENHANCE_YOUR_CALM. Each budget is a token bucket on the caller's
//! clock (burst, then a steady rate), so a well-behaved peer never meets it and a flood costs
//! a bounded amount of work before the connection ends.
//!
//! The budgets (design note §6): received RST_STREAM (rapid reset, CVE-2023-44487); resets this
//! connection sends because of the peer's errors ("MadeYouReset"); DATA frames too small to
//! carry a gRPC message prefix; glitches (PRIORITY, unknown frame types, frames the decoder
//! rejected as stream errors). The queued-answer cap and the CONTINUATION caps live in the
//! configuration and the receive path; the ping policy is grpc-go's (`handlePing`).

use std::time::{Duration, Instant};

/// A token bucket's shape: `burst` tokens at first, refilled at `per_second`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rate {
    pub(crate) burst: u32,
    pub(crate) per_second: u32,
}

/// The flood limits of one connection.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Answers to the peer (PING and SETTINGS acks, resets it caused) that may wait for
    /// `poll_transmit` before reading pauses (grpc-go's control-buffer throttle is 100).
    pub(crate) max_queued_control: usize,
    /// Pause reading while as many handlers run (Request events without
    /// `Connection::handler_done`) as SETTINGS_MAX_CONCURRENT_STREAMS allows streams, as
    /// grpc-go's handler quota does. The driver must then call `handler_done` for every
    /// request it was given.
    pub(crate) pause_at_handlers: bool,
    /// RST_STREAM frames received.
    pub(crate) peer_resets: Rate,
    /// RST_STREAM frames we send because the peer broke a stream rule.
    pub(crate) local_resets: Rate,
    /// DATA frames without END_STREAM carrying fewer than `tiny_data_len` bytes.
    pub(crate) tiny_data: Rate,
    /// Below this many bytes (padding excluded) a DATA frame without END_STREAM is tiny; 5 is
    /// a gRPC message prefix, so no whole message fits in a tiny frame.
    pub(crate) tiny_data_len: usize,
    /// PRIORITY frames, unknown frame types, and frames rejected as stream errors.
    pub(crate) glitches: Rate,
    /// The server's keepalive policy: PINGs closer than this earn a strike (grpc-go's
    /// `MinTime`, 5 minutes by default).
    pub(crate) ping_min_interval: Duration,
    /// Whether PINGs are expected with no stream open; if not, the interval is 2 hours then.
    pub(crate) ping_permit_without_stream: bool,
    /// Strikes allowed; one more ends the connection with "too_many_pings".
    pub(crate) max_ping_strikes: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_queued_control: 100,
            pause_at_handlers: true,
            peer_resets: Rate {
                burst: 1000,
                per_second: 33,
            },
            local_resets: Rate {
                burst: 1000,
                per_second: 33,
            },
            tiny_data: Rate {
                burst: 1000,
                per_second: 330,
            },
            tiny_data_len: 5,
            glitches: Rate {
                burst: 1000,
                per_second: 330,
            },
            ping_min_interval: Duration::from_secs(5 * 60),
            ping_permit_without_stream: false,
            max_ping_strikes: 2,
        }
    }
}

/// The interval expected between PINGs when no stream is open and that is not permitted.
const PING_IDLE_INTERVAL: Duration = Duration::from_secs(2 * 60 * 60);

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// A token bucket.
#[derive(Clone, Copy, Debug)]
pub(super) struct Bucket {
    rate: Rate,
    tokens: u32,
    /// The time the tokens are counted up to.
    last: Instant,
}

impl Bucket {
    pub(super) fn new(rate: Rate, now: Instant) -> Bucket {
        Bucket {
            rate,
            tokens: rate.burst,
            last: now,
        }
    }

    /// Takes a token; `false` when the bucket is empty (the budget is spent).
    pub(super) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        match self.tokens.checked_sub(1) {
            Some(left) => {
                self.tokens = left;
                true
            }
            None => false,
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.tokens >= self.rate.burst || self.rate.per_second == 0 {
            self.last = now;
            return;
        }
        let elapsed = now.saturating_duration_since(self.last).as_nanos();
        let per_second = u128::from(self.rate.per_second);
        let new = elapsed * per_second / NANOS_PER_SECOND;
        if new == 0 {
            return;
        }
        let room = u128::from(self.rate.burst - self.tokens);
        if new >= room {
            self.tokens = self.rate.burst;
            self.last = now;
        } else {
            // Only the time the whole tokens stand for is used up; the rest carries over.
            self.tokens += new as u32;
            let used = Duration::from_nanos((new * NANOS_PER_SECOND / per_second) as u64);
            self.last = self.last.checked_add(used).unwrap_or(now);
        }
    }
}

/// The connection's budgets, each a bucket.
#[derive(Debug)]
pub(super) struct Budgets {
    pub(super) peer_resets: Bucket,
    pub(super) local_resets: Bucket,
    pub(super) tiny_data: Bucket,
    pub(super) glitches: Bucket,
}

impl Budgets {
    pub(super) fn new(limits: &Limits, now: Instant) -> Budgets {
        Budgets {
            peer_resets: Bucket::new(limits.peer_resets, now),
            local_resets: Bucket::new(limits.local_resets, now),
            tiny_data: Bucket::new(limits.tiny_data, now),
            glitches: Bucket::new(limits.glitches, now),
        }
    }
}

/// grpc-go's server keepalive enforcement: a PING sooner than the minimum interval after the
/// previous one earns a strike; more than the allowed strikes ends the connection. Sending
/// HEADERS or DATA forgives: the next PING resets the strikes and is not judged.
#[derive(Debug, Default)]
pub(super) struct PingPolicy {
    last: Option<Instant>,
    strikes: u32,
    forgive: bool,
}

impl PingPolicy {
    pub(super) fn on_headers_or_data_sent(&mut self) {
        self.forgive = true;
    }

    /// A PING came; `false` when it is one strike too many.
    pub(super) fn on_ping(&mut self, limits: &Limits, now: Instant, has_streams: bool) -> bool {
        let last = self.last.replace(now);
        if std::mem::take(&mut self.forgive) {
            self.strikes = 0;
            return true;
        }
        let interval = if has_streams || limits.ping_permit_without_stream {
            limits.ping_min_interval
        } else {
            PING_IDLE_INTERVAL
        };
        if last.is_some_and(|last| now.saturating_duration_since(last) < interval) {
            self.strikes += 1;
        }
        self.strikes <= limits.max_ping_strikes
    }
}
