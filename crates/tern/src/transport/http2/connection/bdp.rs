//! Bandwidth-delay product estimation, grpc-go's algorithm (`bdp_estimator.go`): the first
//! DATA of a cycle sends a PING; the bytes received until its ack are a sample, the ack's
//! delay a round-trip sample. When a sample reaches 2/3 of the current estimate at the highest
//! bandwidth seen, the estimate becomes twice the sample (at most the limit), and the
//! connection grows its windows to it: a connection WINDOW_UPDATE and a new
//! SETTINGS_INITIAL_WINDOW_SIZE. Times come from the caller.

use std::time::{Duration, Instant};

/// The payload of BDP PINGs.
pub(super) const BDP_PING: [u8; 8] = *b"tern-bdp";

/// grpc-go's constants: RTT smoothing, the sample's share of the estimate that triggers growth,
/// and the growth factor.
const ALPHA: f64 = 0.9;
const BETA: f64 = 0.66;
const GAMMA: f64 = 2.0;

#[derive(Debug)]
pub(super) struct Bdp {
    /// The current estimate: the stream window in use.
    estimate: u32,
    limit: u32,
    /// Bytes received since the PING went out; `None` when no PING is out.
    sample: Option<u64>,
    sent_at: Option<Instant>,
    samples: u64,
    /// Smoothed round-trip time, in seconds.
    rtt: f64,
    /// The highest bandwidth seen, in bytes per second.
    bw_max: f64,
}

impl Bdp {
    pub(super) fn new(initial: u32, limit: u32) -> Bdp {
        Bdp {
            estimate: initial,
            limit,
            sample: None,
            sent_at: None,
            samples: 0,
            rtt: 0.0,
            bw_max: 0.0,
        }
    }

    /// DATA of `len` bytes arrived; `true` when a BDP PING should go out now.
    pub(super) fn on_data(&mut self, len: u32, now: Instant) -> bool {
        if self.estimate >= self.limit || len == 0 {
            return false;
        }
        match &mut self.sample {
            Some(sample) => {
                *sample += u64::from(len);
                false
            }
            None => {
                self.sample = Some(u64::from(len));
                self.sent_at = Some(now);
                self.samples += 1;
                true
            }
        }
    }

    /// The BDP PING's ack came; the new window if the estimate grew.
    pub(super) fn on_ack(&mut self, now: Instant) -> Option<u32> {
        let sample = self.sample.take()? as f64;
        let rtt = now
            .saturating_duration_since(self.sent_at.take()?)
            .max(Duration::from_micros(1))
            .as_secs_f64();
        if self.samples < 10 {
            self.rtt += (rtt - self.rtt) / self.samples as f64;
        } else {
            self.rtt += (rtt - self.rtt) * ALPHA;
        }
        let bw = sample / (self.rtt * 1.5);
        if bw > self.bw_max {
            self.bw_max = bw;
        }
        if sample >= BETA * f64::from(self.estimate) && bw >= self.bw_max {
            let grown = (GAMMA * sample).min(f64::from(self.limit)) as u32;
            if grown > self.estimate {
                self.estimate = grown;
                return Some(grown);
            }
        }
        None
    }
}
