//! Retries and hedging as gRFC A6 has them, for calls whose whole request is one encoded
//! message (unary and server streaming), sent again from the same shared bytes: the attempt
//! loops, the backoff between attempts, the server's pushback (`grpc-retry-pushback-ms`), and
//! the channel-wide throttle that stops retries and hedges while failures outweigh successes.
//!
//! A call is committed — never retried — once response headers arrive; what can be retried is
//! a failure before that: a Trailers-Only status, or a stream that never got an answer.

use std::borrow::Cow;
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_core::Stream;
use http::uri::PathAndQuery;

use super::backoff::XorShift;
use super::replay::{spawn_attempt, spawn_encoder, Replay, PER_CALL_LIMIT};
use super::service_config::{self, HedgingPolicy, RetryPolicy, RetryThrottling};
use super::{check_head, read_unary, CallSettings, Client, ResponseHead};
use crate::codec::Codec;
use crate::interceptor::chain::Observers;
use crate::message::SendMessages;
use crate::metadata::Metadata;
use crate::request::Response;
use crate::status::Status;
use crate::transport::SendBody;

/// The delays between one call's attempts.
#[derive(Debug)]
pub(crate) struct RetryBackoff {
    next: Duration,
    rng: XorShift,
}

impl RetryBackoff {
    pub(crate) fn new(policy: &RetryPolicy) -> RetryBackoff {
        RetryBackoff {
            next: policy.initial_backoff,
            rng: XorShift::random(),
        }
    }

    /// The wait before the next attempt: the current backoff, jittered by ±20 % (A6, as
    /// grpc-go draws it), then grown by the multiplier up to the maximum.
    pub(crate) fn wait(&mut self, policy: &RetryPolicy) -> Duration {
        let base = self.next.min(policy.max_backoff);
        let factor = 1.0 + 0.2 * self.rng.uniform();
        self.next = base
            .mul_f64(policy.backoff_multiplier)
            .min(policy.max_backoff);
        base.mul_f64(factor)
    }

    /// After a pushback, the backoff starts over (A6).
    pub(crate) fn reset(&mut self, policy: &RetryPolicy) {
        self.next = policy.initial_backoff;
    }
}

/// What the server said about retrying, in `grpc-retry-pushback-ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pushback {
    /// Nothing: the policy's backoff applies.
    None,
    /// Retry after exactly this long.
    After(Duration),
    /// Do not retry (a negative or unreadable value).
    Stop,
}

pub(crate) fn pushback(status: &Status) -> Pushback {
    match status.metadata().get("grpc-retry-pushback-ms") {
        None => Pushback::None,
        Some(value) => match value.trim().parse::<i32>() {
            Ok(ms) if ms >= 0 => Pushback::After(Duration::from_millis(ms as u64)),
            _ => Pushback::Stop,
        },
    }
}

/// A6's retry throttling: a token bucket per channel. A failure that the policy would retry
/// takes a token, any other end puts `token_ratio` back, and no retry is sent while the bucket
/// is at or below half.
#[derive(Debug)]
pub(crate) struct Throttle {
    max_tokens: f64,
    token_ratio: f64,
    tokens: Mutex<f64>,
}

impl Throttle {
    pub(crate) fn new(config: &RetryThrottling) -> Throttle {
        Throttle {
            max_tokens: config.max_tokens,
            token_ratio: config.token_ratio,
            tokens: Mutex::new(config.max_tokens),
        }
    }

    fn tokens(&self) -> std::sync::MutexGuard<'_, f64> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a retryable failure; true if a retry may still be sent.
    pub(crate) fn failed(&self) -> bool {
        let mut tokens = self.tokens();
        *tokens = (*tokens - 1.0).max(0.0);
        *tokens > self.max_tokens / 2.0
    }

    /// Records an attempt that did not fail retryably.
    pub(crate) fn succeeded(&self) {
        let mut tokens = self.tokens();
        *tokens = (*tokens + self.token_ratio).min(self.max_tokens);
    }
}

/// One call's retry bookkeeping under a policy: what the loops over attempts of unary,
/// server-streaming and client-streaming calls share.
struct Retrying<'a> {
    policy: &'a RetryPolicy,
    throttle: Option<&'a Throttle>,
    backoff: RetryBackoff,
    /// Attempts sent before the next one.
    previous: u32,
}

impl<'a> Retrying<'a> {
    fn new(policy: &'a RetryPolicy, throttle: Option<&'a Throttle>) -> Retrying<'a> {
        Retrying {
            policy,
            throttle,
            backoff: RetryBackoff::new(policy),
            previous: 0,
        }
    }

    /// The call ended without a retryable failure (committed, or a code the policy does not
    /// name): the throttle gets its token back.
    fn ended(&self) {
        if let Some(throttle) = self.throttle {
            throttle.succeeded();
        }
    }

    /// After a failed attempt: how long to wait before the next, or `None` to end the call
    /// with this status. `can_retry` is false when the request can no longer be sent again.
    fn after_failure(&mut self, status: &Status, can_retry: bool) -> Option<Duration> {
        if !self.policy.retryable_status_codes.contains(&status.code()) {
            self.ended();
            return None;
        }
        let allowed = self.throttle.is_none_or(|t| t.failed());
        let wait = match pushback(status) {
            Pushback::Stop => return None,
            Pushback::After(wait) => {
                self.backoff.reset(self.policy);
                wait
            }
            Pushback::None => self.backoff.wait(self.policy),
        };
        if !allowed || self.previous + 1 >= self.policy.max_attempts || !can_retry {
            return None;
        }
        tracing::debug!(%status, attempt = self.previous + 1, ?wait, "retrying");
        self.previous += 1;
        Some(wait)
    }
}

/// The request metadata of an attempt: a retry says how many attempts came before it
/// (`grpc-previous-rpc-attempts`, gRFC A6).
fn attempt_metadata(metadata: &Metadata, previous: u32) -> Result<Cow<'_, Metadata>, Status> {
    if previous == 0 {
        return Ok(Cow::Borrowed(metadata));
    }
    let mut counted = metadata.clone();
    counted.insert("grpc-previous-rpc-attempts", &previous.to_string())?;
    Ok(Cow::Owned(counted))
}

impl Client {
    /// Sends a call whose whole request is in `body` and checks its response head, retrying as
    /// the method's retry policy says (gRFC A6): a failure before response headers, with a code
    /// the policy names, is sent again after the policy's backoff (or the server's pushback),
    /// up to its attempts, while the channel's throttle allows, within the call's deadline.
    pub(super) async fn start_replayable(
        &self,
        path: &PathAndQuery,
        metadata: &Metadata,
        deadline: Option<Instant>,
        sender: &SendMessages,
        body: Bytes,
        settings: &CallSettings<'_>,
    ) -> Result<(ResponseHead, SendBody), Status> {
        let attempt = |previous: u32| {
            let body = body.clone();
            async move {
                let metadata = attempt_metadata(metadata, previous)?;
                let (head, recv, send) = self
                    .send_replayable(path, &metadata, deadline, sender, body, settings)
                    .await?;
                Ok((check_head(head, recv, settings.receive_limit)?, send))
            }
        };
        let policy = match settings.policy {
            None => return attempt(0).await,
            Some(service_config::CallPolicy::Hedging(policy)) => {
                return self.hedge(policy, attempt).await
            }
            Some(service_config::CallPolicy::Retry(policy)) => policy,
        };
        let mut retrying = Retrying::new(policy, self.channel.retry_throttle());
        loop {
            let status = match attempt(retrying.previous).await {
                Ok(committed) => {
                    retrying.ended();
                    return Ok(committed);
                }
                Err(status) => status,
            };
            match retrying.after_failure(&status, true) {
                Some(wait) => tokio::time::sleep(wait).await,
                None => return Err(status),
            }
        }
    }

    /// Hedging (gRFC A6): the first attempt goes at once and another every `hedgingDelay` until
    /// one answers, up to `maxAttempts`; a non-fatal status sends the next at once; the first
    /// response headers, OK or fatal status wins, and the other attempts are cancelled (their
    /// futures dropped, their streams reset).
    async fn hedge<'a, F, Fut>(
        &'a self,
        policy: &HedgingPolicy,
        attempt: F,
    ) -> Result<(ResponseHead, SendBody), Status>
    where
        F: Fn(u32) -> Fut,
        Fut: Future<Output = Result<(ResponseHead, SendBody), Status>> + Send + 'a,
    {
        type Attempt<'f> = std::pin::Pin<
            Box<dyn Future<Output = Result<(ResponseHead, SendBody), Status>> + Send + 'f>,
        >;
        let throttle = self.channel.retry_throttle();
        let mut running: Vec<Attempt<'a>> = Vec::new();
        let mut sent = 0;
        let mut last_failure = None;
        // When the next hedge goes out; `None` once no more may.
        let mut next = Some(tokio::time::Instant::now());
        let mut timer = pin!(tokio::time::sleep_until(tokio::time::Instant::now()));
        loop {
            if let Some(at) = next {
                if at <= tokio::time::Instant::now() {
                    running.push(Box::pin(attempt(sent)));
                    sent += 1;
                    next = (sent < policy.max_attempts)
                        .then(|| tokio::time::Instant::now() + policy.hedging_delay);
                }
            }
            if running.is_empty() {
                return Err(last_failure
                    .unwrap_or_else(|| Status::unavailable("no hedged attempt was sent")));
            }
            if let Some(at) = next {
                timer.as_mut().reset(at);
            }
            let done = poll_fn(|cx| {
                for (i, attempt) in running.iter_mut().enumerate() {
                    if let Poll::Ready(result) = attempt.as_mut().poll(cx) {
                        return Poll::Ready(Some((i, result)));
                    }
                }
                if next.is_some() && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await;
            let Some((i, result)) = done else { continue };
            drop(running.swap_remove(i));
            let status = match result {
                Ok(committed) => {
                    if let Some(throttle) = throttle {
                        throttle.succeeded();
                    }
                    return Ok(committed);
                }
                Err(status) => status,
            };
            if !policy.non_fatal_status_codes.contains(&status.code()) {
                if let Some(throttle) = throttle {
                    throttle.succeeded();
                }
                return Err(status);
            }
            // A non-fatal failure: the next hedge goes now, or when the server says.
            let allowed = throttle.is_none_or(|t| t.failed());
            match pushback(&status) {
                _ if !allowed || sent >= policy.max_attempts => next = None,
                Pushback::Stop => next = None,
                Pushback::After(wait) => next = Some(tokio::time::Instant::now() + wait),
                Pushback::None => next = Some(tokio::time::Instant::now()),
            }
            last_failure = Some(status);
        }
    }
}

/// What every attempt of a call sends first.
pub(super) struct AttemptHead<'a> {
    pub(super) path: &'a PathAndQuery,
    pub(super) metadata: &'a Metadata,
    pub(super) deadline: Option<Instant>,
    pub(super) sender: &'a SendMessages,
}

impl Client {
    /// A client-streaming call under a retry policy: the request stream is encoded once into a
    /// replay buffer, and each attempt sends it from the start; a failure before response
    /// headers is retried as for unary calls while the buffer still holds every request (up to
    /// [`PER_CALL_LIMIT`](super::replay::PER_CALL_LIMIT) bytes).
    pub(super) async fn client_streaming_with_retries<C, S>(
        &self,
        head: AttemptHead<'_>,
        messages: S,
        codec: &C,
        settings: &CallSettings<'_>,
        policy: &RetryPolicy,
        observers: Option<&Arc<Observers>>,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let replay = Replay::new(PER_CALL_LIMIT);
        let _encoder = spawn_encoder(
            replay.clone(),
            messages,
            codec.clone(),
            head.sender.clone(),
            observers.cloned(),
        );
        let mut retrying = Retrying::new(policy, self.channel.retry_throttle());
        loop {
            let metadata = attempt_metadata(head.metadata, retrying.previous)?;
            let request = self.head(head.path, &metadata, head.deadline, head.sender);
            let mut attempt = None;
            let outcome = match self.channel.start(request, settings.wait_for_ready).await {
                Ok((pending, send)) => {
                    attempt = Some(spawn_attempt(send, replay.clone(), replay.begin_attempt()));
                    match pending.head().await {
                        Ok((response, recv)) => check_head(response, recv, settings.receive_limit),
                        Err(e) => Err(e.into()),
                    }
                }
                Err(status) => Err(status),
            };
            let status = match outcome {
                Ok(response) => {
                    replay.commit();
                    retrying.ended();
                    // The attempt's sender keeps sending the rest of the stream meanwhile.
                    let result = read_unary(response, codec, observers.map(|o| &**o)).await;
                    drop(attempt);
                    return result;
                }
                Err(status) => status,
            };
            let Some(wait) = retrying.after_failure(&status, replay.can_retry()) else {
                return Err(status);
            };
            // Gives the failed attempt up (its stream is reset) before the next begins.
            drop(attempt);
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Code;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(300),
            backoff_multiplier: 2.0,
            retryable_status_codes: vec![Code::Unavailable],
        }
    }

    #[test]
    fn backoff_grows_to_its_maximum_within_the_jitter() {
        let policy = policy();
        let mut backoff = RetryBackoff::new(&policy);
        for base in [100.0, 200.0, 300.0, 300.0] {
            let wait = backoff.wait(&policy).as_secs_f64() * 1000.0;
            assert!(
                wait >= base * 0.8 - 1e-6 && wait <= base * 1.2 + 1e-6,
                "{wait} ms for a {base} ms backoff"
            );
        }
        backoff.reset(&policy);
        let wait = backoff.wait(&policy).as_secs_f64() * 1000.0;
        assert!((80.0..=120.0).contains(&wait));
    }

    #[test]
    fn pushback_values() {
        let with = |value: &str| {
            let mut status = Status::unavailable("busy");
            status
                .metadata_mut()
                .insert("grpc-retry-pushback-ms", value)
                .unwrap();
            pushback(&status)
        };
        assert_eq!(pushback(&Status::unavailable("busy")), Pushback::None);
        assert_eq!(with("250"), Pushback::After(Duration::from_millis(250)));
        assert_eq!(with("0"), Pushback::After(Duration::ZERO));
        assert_eq!(with("-1"), Pushback::Stop);
        assert_eq!(with("soon"), Pushback::Stop);
    }

    #[test]
    fn the_throttle_stops_retries_below_half_and_refills() {
        let throttle = Throttle::new(&RetryThrottling {
            max_tokens: 4.0,
            token_ratio: 0.5,
        });
        assert!(throttle.failed(), "3 > 2");
        assert!(!throttle.failed(), "2 is not above half");
        assert!(!throttle.failed(), "1");
        // Successes put half a token back each: 1 -> 2.5, and a failure takes it to 1.5.
        for _ in 0..3 {
            throttle.succeeded();
        }
        assert!(!throttle.failed(), "1.5");
        // 1.5 -> 3.5 -> 2.5 after a failure: above half, a retry may go.
        for _ in 0..4 {
            throttle.succeeded();
        }
        assert!(throttle.failed(), "2.5");
        // Never past the bucket's size.
        for _ in 0..100 {
            throttle.succeeded();
        }
        assert_eq!(*throttle.tokens(), 4.0);
    }
}
