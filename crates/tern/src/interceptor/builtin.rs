//! Interceptors most servers want, ready to add: credentials checks (bearer tokens, API keys),
//! a log line and a span per call through `tracing`, a concurrency limit and a rate limit that
//! shed load with `RESOURCE_EXHAUSTED`, and a cap on how long a call may run.
//!
//! ```
//! use std::time::Duration;
//! use tern::interceptor::builtin::{BearerToken, ConcurrencyLimit, MaxTimeout, RequestLog};
//!
//! let server = tern::Server::builder()
//!     .intercept(RequestLog::new())
//!     .intercept(BearerToken::new(["s3cret"]))
//!     .intercept(ConcurrencyLimit::new(1_000))
//!     .intercept(MaxTimeout::new(Duration::from_secs(30)));
//! # drop(server);
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{CallObserver, ClientInterceptor, IncomingCall, OutgoingCall, ServerInterceptor};
use crate::metadata::Metadata;
use crate::status::{Code, Status};

/// Compares two secrets in time that depends only on their lengths, so that a caller cannot
/// find a token byte by byte from how fast it is refused.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `candidate` is one of `secrets`. Every secret is compared, so the time taken does
/// not say which one came close.
fn any_secret(secrets: &[String], candidate: &str) -> bool {
    secrets.iter().fold(false, |found, secret| {
        found | same_secret(secret.as_bytes(), candidate.as_bytes())
    })
}

/// The token of an `authorization: Bearer <token>` header.
fn bearer_token(metadata: &Metadata) -> Option<&str> {
    let value = metadata.get("authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Lets through only calls whose `authorization` header is `Bearer <token>` with one of these
/// tokens; others fail with `UNAUTHENTICATED` before their handler runs.
#[derive(Clone)]
pub struct BearerToken {
    tokens: Arc<[String]>,
}

impl BearerToken {
    /// Accepts any of `tokens`.
    pub fn new<T: Into<String>>(tokens: impl IntoIterator<Item = T>) -> BearerToken {
        BearerToken {
            tokens: tokens.into_iter().map(Into::into).collect(),
        }
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BearerToken({} tokens)", self.tokens.len())
    }
}

impl ServerInterceptor for BearerToken {
    type Observer = ();

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<(), Status> {
        let token = bearer_token(call.metadata())
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?;
        let known = any_secret(&self.tokens, token);
        if known {
            Ok(())
        } else {
            Err(Status::unauthenticated("invalid bearer token"))
        }
    }
}

/// Checks bearer tokens with a function of the caller's (a lookup in a session store, a JWT
/// check): what it returns for a good token is handed to the handler as a request extension.
///
/// ```
/// # use tern::interceptor::builtin::BearerAuth;
/// #[derive(Clone)]
/// struct User(String);
///
/// let auth = BearerAuth::new(|token: String| async move {
///     match token.as_str() {
///         "alice-token" => Ok(User("alice".into())),
///         _ => Err(tern::Status::unauthenticated("unknown token")),
///     }
/// });
/// let server = tern::Server::builder().intercept(auth);
/// // In the handler: request.extensions().get::<User>()
/// # drop(server);
/// ```
pub struct BearerAuth<F> {
    validate: F,
}

impl<F> BearerAuth<F> {
    /// Validates each call's token with `validate`.
    pub fn new(validate: F) -> BearerAuth<F> {
        BearerAuth { validate }
    }
}

impl<F> fmt::Debug for BearerAuth<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerAuth")
    }
}

impl<F, Fut, T> ServerInterceptor for BearerAuth<F>
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T, Status>> + Send,
    T: Clone + Send + Sync + 'static,
{
    type Observer = ();

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<(), Status> {
        let token = bearer_token(call.metadata())
            .ok_or_else(|| Status::unauthenticated("missing bearer token"))?
            .to_owned();
        let identity = (self.validate)(token).await?;
        call.extensions_mut().insert(identity);
        Ok(())
    }
}

/// Lets through only calls carrying one of these keys in a metadata entry (`x-api-key`, say);
/// others fail with `UNAUTHENTICATED`.
#[derive(Clone)]
pub struct ApiKey {
    header: String,
    keys: Arc<[String]>,
}

impl ApiKey {
    /// Accepts any of `keys` in metadata entry `header` (lowercase, as all gRPC metadata keys).
    pub fn new<K: Into<String>>(header: &str, keys: impl IntoIterator<Item = K>) -> ApiKey {
        ApiKey {
            header: header.to_ascii_lowercase(),
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({}, {} keys)", self.header, self.keys.len())
    }
}

impl ServerInterceptor for ApiKey {
    type Observer = ();

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<(), Status> {
        let key = call
            .metadata()
            .get(&self.header)
            .ok_or_else(|| Status::unauthenticated(format!("missing {}", self.header)))?;
        let known = any_secret(&self.keys, key);
        if known {
            Ok(())
        } else {
            Err(Status::unauthenticated(format!("invalid {}", self.header)))
        }
    }
}

/// Logs one line per call through `tracing` when it ends: the method, the peer (on the server),
/// the status, how long it took and how many messages went each way. OK calls log at `INFO`,
/// failed ones at `WARN`. Works on servers and channels.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    _private: (),
}

impl RequestLog {
    /// The logger.
    pub fn new() -> RequestLog {
        RequestLog::default()
    }
}

/// One call's log line, written when it ends.
#[derive(Debug)]
pub struct LogLine {
    side: &'static str,
    path: String,
    peer: Option<std::net::SocketAddr>,
    started: Instant,
    requests: u64,
    responses: u64,
}

impl CallObserver for LogLine {
    fn on_request(&mut self, _: &super::Message<'_>) {
        self.requests += 1;
    }

    fn on_response(&mut self, _: &super::Message<'_>) {
        self.responses += 1;
    }

    fn on_finish(&mut self, status: &Status, _: &mut Metadata) {
        let elapsed_us = self.started.elapsed().as_micros() as u64;
        let peer = self.peer.map(|p| p.to_string()).unwrap_or_default();
        if status.code() == Code::Ok {
            tracing::info!(
                side = self.side, method = %self.path, peer = %peer, code = "OK", elapsed_us,
                requests = self.requests, responses = self.responses, "gRPC call"
            );
        } else {
            tracing::warn!(
                side = self.side, method = %self.path, peer = %peer, code = status.code().name(),
                message = status.message(), elapsed_us, requests = self.requests,
                responses = self.responses, "gRPC call failed"
            );
        }
    }
}

impl ServerInterceptor for RequestLog {
    type Observer = LogLine;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<LogLine, Status> {
        Ok(LogLine {
            side: "server",
            path: format!("/{}/{}", call.service(), call.method()),
            peer: call.remote_addr(),
            started: Instant::now(),
            requests: 0,
            responses: 0,
        })
    }
}

impl ClientInterceptor for RequestLog {
    type Observer = LogLine;

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<LogLine, Status> {
        Ok(LogLine {
            side: "client",
            path: call.path().to_owned(),
            peer: None,
            started: Instant::now(),
            requests: 0,
            responses: 0,
        })
    }
}

/// A `tracing` span per call, named `grpc` with OpenTelemetry's RPC attributes (`rpc.system`,
/// `rpc.service`, `rpc.method`, `otel.kind`, the peer on the server) and, once the call ends,
/// `rpc.grpc.status_code`. On the server the handler runs inside it, so its own events and
/// spans nest under the call. Works on servers and channels. (With the `otel` feature,
/// `tern::otel::ServerTracing` and `ClientTracing` carry W3C trace context across processes.)
#[derive(Clone, Debug, Default)]
pub struct TraceCalls {
    _private: (),
}

impl TraceCalls {
    /// The tracer.
    pub fn new() -> TraceCalls {
        TraceCalls::default()
    }
}

/// Records the end of a call on its span.
#[derive(Debug)]
pub struct SpanEnd(tracing::Span);

impl CallObserver for SpanEnd {
    fn on_finish(&mut self, status: &Status, _: &mut Metadata) {
        self.0.record("rpc.grpc.status_code", status.code() as i64);
        if status.code() != Code::Ok {
            self.0.record("otel.status_code", "ERROR");
            self.0.record("error.message", status.message());
        }
    }
}

impl ServerInterceptor for TraceCalls {
    type Observer = SpanEnd;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<SpanEnd, Status> {
        let peer = call
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "grpc",
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.service = call.service(),
            rpc.method = call.method(),
            net.peer = %peer,
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            error.message = tracing::field::Empty,
        );
        call.instrument(span.clone());
        Ok(SpanEnd(span))
    }
}

impl ClientInterceptor for TraceCalls {
    type Observer = SpanEnd;

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<SpanEnd, Status> {
        let span = tracing::info_span!(
            "grpc",
            otel.kind = "client",
            rpc.system = "grpc",
            rpc.service = call.service(),
            rpc.method = call.method(),
            server.address = call.authority(),
            rpc.grpc.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            error.message = tracing::field::Empty,
        );
        Ok(SpanEnd(span))
    }
}

/// Runs at most this many calls at once (per server, or per service when added to one); a call
/// over the limit fails at once with `RESOURCE_EXHAUSTED`, which clients may retry elsewhere.
/// A streaming call counts until it ends.
#[derive(Clone, Debug)]
pub struct ConcurrencyLimit {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl ConcurrencyLimit {
    /// At most `limit` calls at once.
    pub fn new(limit: usize) -> ConcurrencyLimit {
        ConcurrencyLimit {
            permits: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
            limit,
        }
    }

    /// How many more calls could start now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// A call's place under a [`ConcurrencyLimit`], given back when the call ends.
#[derive(Debug)]
pub struct ConcurrencyPermit {
    _permit: OwnedSemaphorePermit,
}

impl CallObserver for ConcurrencyPermit {}

impl ServerInterceptor for ConcurrencyLimit {
    type Observer = ConcurrencyPermit;

    async fn intercept(&self, _: &mut IncomingCall<'_>) -> Result<ConcurrencyPermit, Status> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Ok(ConcurrencyPermit { _permit: permit }),
            Err(_) => Err(Status::resource_exhausted(format!(
                "server is at its limit of {} concurrent calls",
                self.limit
            ))),
        }
    }
}

/// Lets through at most `rate` calls per second on average, in bursts of up to `burst` (a token
/// bucket); a call over it fails with `RESOURCE_EXHAUSTED` and a `grpc-retry-pushback-ms`
/// trailer saying when a call would next be let through.
#[derive(Clone, Debug)]
pub struct RateLimit {
    rate: f64,
    burst: f64,
    bucket: Arc<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl RateLimit {
    /// `rate` calls per second (above zero), bursts of `burst` (at least one).
    pub fn new(rate: f64, burst: u32) -> RateLimit {
        let burst = f64::from(burst.max(1));
        RateLimit {
            rate: if rate > 0.0 { rate } else { f64::MIN_POSITIVE },
            burst,
            bucket: Arc::new(Mutex::new(Bucket {
                tokens: burst,
                refilled: Instant::now(),
            })),
        }
    }

    /// Takes a token at `now`, or says how long until one is there.
    fn take(&self, now: Instant) -> Result<(), Duration> {
        let mut bucket = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.refilled = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX))
        }
    }
}

impl ServerInterceptor for RateLimit {
    type Observer = ();

    async fn intercept(&self, _: &mut IncomingCall<'_>) -> Result<(), Status> {
        self.take(Instant::now()).map_err(|wait| {
            let mut status = Status::resource_exhausted("rate limit exceeded");
            let ms = wait.as_millis().clamp(1, i32::MAX as u128).to_string();
            // Digits are always a valid metadata value.
            let _ = status.metadata_mut().insert("grpc-retry-pushback-ms", &ms);
            status
        })
    }
}

/// Caps how long a call may run, whatever deadline the client set (or if it set none): the
/// handler is cancelled and the client gets `DEADLINE_EXCEEDED` when the cap is reached.
#[derive(Clone, Copy, Debug)]
pub struct MaxTimeout {
    max: Duration,
}

impl MaxTimeout {
    /// At most `max` per call.
    pub fn new(max: Duration) -> MaxTimeout {
        MaxTimeout { max }
    }
}

impl ServerInterceptor for MaxTimeout {
    type Observer = ();

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<(), Status> {
        if let Some(cap) = Instant::now().checked_add(self.max) {
            if call.deadline().is_none_or(|d| d > cap) {
                call.set_deadline(cap);
            }
        }
        Ok(())
    }
}

/// On a channel: gives calls made without a timeout this one.
#[derive(Clone, Copy, Debug)]
pub struct DefaultTimeout {
    timeout: Duration,
}

impl DefaultTimeout {
    /// Calls with no timeout of their own get `timeout`.
    pub fn new(timeout: Duration) -> DefaultTimeout {
        DefaultTimeout { timeout }
    }
}

impl ClientInterceptor for DefaultTimeout {
    type Observer = ();

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<(), Status> {
        if call.timeout().is_none() {
            call.set_timeout(self.timeout);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_equal_only_when_equal() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(same_secret(b"", b""));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut metadata = Metadata::new();
        assert_eq!(bearer_token(&metadata), None);
        metadata.insert("authorization", "Bearer t0k").unwrap();
        assert_eq!(bearer_token(&metadata), Some("t0k"));
        metadata.insert("authorization", "bearer  t0k ").unwrap();
        assert_eq!(bearer_token(&metadata), Some("t0k"));
        metadata.insert("authorization", "Basic dTpw").unwrap();
        assert_eq!(bearer_token(&metadata), None);
        metadata.insert("authorization", "Bearer ").unwrap();
        assert_eq!(bearer_token(&metadata), None);
    }

    #[test]
    fn the_rate_limit_refills_at_its_rate_up_to_its_burst() {
        let limit = RateLimit::new(10.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limit.take(start).is_ok());
        }
        let wait = limit.take(start).unwrap_err();
        assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100));
        // 100 ms later, one token is back, and only one.
        let later = start + Duration::from_millis(100);
        assert!(limit.take(later).is_ok());
        assert!(limit.take(later).is_err());
        // After a long pause the bucket holds its burst, no more.
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limit.take(much_later).is_ok());
        }
        assert!(limit.take(much_later).is_err());
    }
}
