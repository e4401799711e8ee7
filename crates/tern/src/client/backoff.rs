//! gRPC's connection backoff (`doc/connection-backoff.md` in grpc/grpc), exactly:
//!
//! ```text
//! ConnectWithBackoff()
//!   current_backoff = INITIAL_BACKOFF
//!   current_deadline = now() + INITIAL_BACKOFF
//!   while (TryConnect(Max(current_deadline, now() + MIN_CONNECT_TIMEOUT)) != SUCCESS)
//!     SleepUntil(current_deadline)
//!     current_backoff = Min(current_backoff * MULTIPLIER, MAX_BACKOFF)
//!     current_deadline = now() + current_backoff +
//!       UniformRandom(-JITTER * current_backoff, JITTER * current_backoff)
//! ```
//!
//! with INITIAL_BACKOFF 1 s, MULTIPLIER 1.6, JITTER 0.2, MAX_BACKOFF 120 s and
//! MIN_CONNECT_TIMEOUT 20 s. A pure state machine: it hands out durations and never sleeps, so
//! it is tested without a clock, under a seeded random source.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// The parameters of gRPC's connection backoff; [`Default`] gives the specification's.
///
/// ```
/// let mut backoff = tern::client::BackoffConfig::default();
/// backoff.initial = std::time::Duration::from_millis(100);
/// # let _ = backoff;
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct BackoffConfig {
    /// The wait after the first failed attempt (1 s).
    pub initial: Duration,
    /// How much each wait grows over the previous one (1.6).
    pub multiplier: f64,
    /// How far each wait is spread at random, as a fraction of it either way (0.2).
    pub jitter: f64,
    /// The longest wait, before jitter (120 s).
    pub max: Duration,
    /// The least time a connection attempt is given (20 s); an attempt may take up to the
    /// current backoff when that is longer.
    pub min_connect_timeout: Duration,
}

impl Default for BackoffConfig {
    fn default() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_secs(1),
            multiplier: 1.6,
            jitter: 0.2,
            max: Duration::from_secs(120),
            min_connect_timeout: Duration::from_secs(20),
        }
    }
}

/// One connection attempt's limits, measured from the moment it starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Attempt {
    /// How long the attempt may take.
    pub(crate) timeout: Duration,
    /// When the next attempt may start, if this one fails.
    pub(crate) next_after: Duration,
}

/// The backoff of one subchannel.
#[derive(Debug)]
pub(crate) struct Backoff {
    config: BackoffConfig,
    /// The un-jittered backoff the next attempt grows from; `None` before the first attempt.
    current: Option<Duration>,
    rng: XorShift,
}

impl Backoff {
    pub(crate) fn new(config: BackoffConfig, seed: u64) -> Backoff {
        Backoff {
            config,
            current: None,
            rng: XorShift::new(seed),
        }
    }

    /// A backoff seeded from the process's random hasher keys.
    pub(crate) fn random(config: BackoffConfig) -> Backoff {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Backoff::new(config, seed)
    }

    /// The limits of the next attempt.
    pub(crate) fn next_attempt(&mut self) -> Attempt {
        let config = self.config;
        let next_after = match self.current {
            // The first deadline is INITIAL_BACKOFF, with no jitter.
            None => {
                self.current = Some(config.initial);
                config.initial
            }
            Some(current) => {
                let grown = current.mul_f64(config.multiplier.max(1.0)).min(config.max);
                self.current = Some(grown);
                let spread = grown.as_secs_f64() * config.jitter * self.rng.uniform();
                Duration::from_secs_f64((grown.as_secs_f64() + spread).max(0.0))
            }
        };
        Attempt {
            timeout: next_after.max(config.min_connect_timeout),
            next_after,
        }
    }

    /// Starts again from the initial backoff, after a connection worked.
    pub(crate) fn reset(&mut self) {
        self.current = None;
    }
}

/// xorshift64: a tiny, deterministic random source for jitter (no `rand` dependency).
#[derive(Debug)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> XorShift {
        // Zero is xorshift's one fixed point.
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Seeded from the process's random hasher keys.
    pub(crate) fn random() -> XorShift {
        XorShift::new(
            std::collections::hash_map::RandomState::new()
                .build_hasher()
                .finish(),
        )
    }

    /// Uniform in [-1, 1).
    pub(crate) fn uniform(&mut self) -> f64 {
        let unit = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        unit * 2.0 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn follows_the_specification() {
        let mut backoff = Backoff::new(BackoffConfig::default(), 42);
        let first = backoff.next_attempt();
        // First: exactly INITIAL_BACKOFF, and the attempt gets MIN_CONNECT_TIMEOUT.
        assert_eq!(first.next_after, Duration::from_secs(1));
        assert_eq!(first.timeout, Duration::from_secs(20));
        let mut base = 1.0f64;
        for n in 1..40 {
            base = (base * 1.6).min(120.0);
            let attempt = backoff.next_attempt();
            let wait = secs(attempt.next_after);
            assert!(
                wait >= base * 0.8 - 1e-9 && wait <= base * 1.2 + 1e-9,
                "attempt {n}: {wait} s for a base of {base} s"
            );
            assert_eq!(
                attempt.timeout,
                attempt.next_after.max(Duration::from_secs(20))
            );
        }
        // The base has long reached MAX_BACKOFF and stays there.
        assert_eq!(base, 120.0);
    }

    #[test]
    fn deterministic_under_a_seed() {
        let run = |seed| {
            let mut backoff = Backoff::new(BackoffConfig::default(), seed);
            (0..10)
                .map(|_| backoff.next_attempt().next_after)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        // The jitter spreads both ways.
        let mut backoff = Backoff::new(BackoffConfig::default(), 1);
        backoff.next_attempt();
        let mut above = false;
        let mut below = false;
        let mut base = 1.0f64;
        for _ in 0..50 {
            base = (base * 1.6).min(120.0);
            let wait = secs(backoff.next_attempt().next_after);
            above |= wait > base;
            below |= wait < base;
        }
        assert!(above && below);
    }

    #[test]
    fn reset_starts_over_and_no_jitter_is_exact() {
        let config = BackoffConfig {
            jitter: 0.0,
            initial: Duration::from_millis(100),
            min_connect_timeout: Duration::from_millis(50),
            ..BackoffConfig::default()
        };
        let mut backoff = Backoff::new(config, 3);
        let waits: Vec<_> = (0..4)
            .map(|_| backoff.next_attempt().next_after.as_millis())
            .collect();
        assert_eq!(waits, [100, 160, 256, 409]);
        // A wait longer than the minimum connect timeout gives the attempt that long.
        // 409.6 ms * 1.6 = 655.36 ms.
        let fifth = backoff.next_attempt();
        assert!((secs(fifth.timeout) - 0.65536).abs() < 1e-6, "{fifth:?}");
        assert_eq!(fifth.timeout, fifth.next_after);
        backoff.reset();
        assert_eq!(
            backoff.next_attempt(),
            Attempt {
                timeout: Duration::from_millis(100),
                next_after: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn uniform_stays_in_range() {
        let mut rng = XorShift::new(0);
        for _ in 0..10_000 {
            let u = rng.uniform();
            assert!((-1.0..1.0).contains(&u));
        }
    }
}
