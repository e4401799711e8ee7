//! Call credentials: metadata computed for each call (a bearer token, an API key, a signature)
//! and attached by a channel to all its calls or by one call to itself, and the server's side of
//! bearer tokens.
//!
//! Credentials are secrets, so a channel sends them only over TLS unless they were made with
//! [`Credentials::allow_cleartext`]: a call on a cleartext channel that carries credentials fails
//! with `UNAUTHENTICATED` before anything is sent, as grpc-go's do.
//!
//! A source that fails fails the call, with the status gRFC A54 prescribes: the code the source
//! gave when it gave a [`Status`] (except the codes only a server may produce, which become
//! `INTERNAL`), `UNAVAILABLE` for any other error.
//!
//! ```no_run
//! # async fn f() -> Result<(), tern::Error> {
//! use std::time::Duration;
//! use tern::credentials::{BearerToken, Credentials, Token};
//!
//! // A token fetched again shortly before it expires; calls share one fetch.
//! let token = BearerToken::new(|| async {
//!     let value = std::fs::read_to_string("/var/run/secrets/token")?;
//!     Ok::<_, std::io::Error>(Token::new(value.trim()).expires_in(Duration::from_secs(600)))
//! });
//! let channel = tern::Channel::builder("https://api.example.com")?
//!     .call_credentials(Credentials::new(token))
//!     .connect()
//!     .await?;
//! # let _ = channel; Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery};

use crate::metadata::Metadata;
use crate::request::Request;
use crate::status::{Code, Status};

/// Any error a credentials source can fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What [`CallCredentials::metadata`] returns.
pub type MetadataFuture<'a> = Pin<Box<dyn Future<Output = Result<Metadata, BoxError>> + Send + 'a>>;

/// A source of per-call metadata. Implement it for a signing scheme of your own; for bearer
/// tokens use [`BearerToken`], for a fixed header [`Credentials::from_metadata`].
pub trait CallCredentials: Send + Sync + 'static {
    /// The metadata to add to this call. Runs before the call is sent, within its deadline.
    /// Failing with a [`Status`] fails the call with its code (see the module's comment);
    /// failing with any other error fails it `UNAVAILABLE`.
    fn metadata(&self, call: CallInfo) -> MetadataFuture<'_>;
}

/// The call credentials are asked for.
#[derive(Clone, Debug)]
pub struct CallInfo {
    path: PathAndQuery,
    authority: Authority,
    secure: bool,
}

impl CallInfo {
    pub(crate) fn new(path: PathAndQuery, authority: Authority, secure: bool) -> CallInfo {
        CallInfo {
            path,
            authority,
            secure,
        }
    }

    /// The method's path, `/package.Service/Method`.
    pub fn method(&self) -> &str {
        self.path.path()
    }

    /// The service's full name, `package.Service`.
    pub fn service(&self) -> &str {
        let path = self.path.path().trim_start_matches('/');
        path.rsplit_once('/').map_or(path, |(service, _)| service)
    }

    /// The `:authority` the call is sent to.
    pub fn authority(&self) -> &str {
        self.authority.as_str()
    }

    /// `https://authority/package.Service`: what gRPC's JWT credentials use as the audience.
    pub fn service_url(&self) -> String {
        let scheme = if self.secure { "https" } else { "http" };
        format!("{scheme}://{}/{}", self.authority, self.service())
    }

    /// Whether the connection is TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }
}

/// Call credentials as a channel or a call holds them; cheap to clone.
#[derive(Clone)]
pub struct Credentials {
    source: Arc<dyn CallCredentials>,
    cleartext: bool,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("cleartext", &self.cleartext)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from a source.
    pub fn new(source: impl CallCredentials) -> Credentials {
        Credentials {
            source: Arc::new(source),
            cleartext: false,
        }
    }

    /// The same metadata on every call: an API key, say
    /// (`Metadata::new()` with `x-api-key` inserted).
    pub fn from_metadata(metadata: Metadata) -> Credentials {
        Credentials::new(Fixed(metadata))
    }

    /// `authorization: Bearer <token>` on every call, for a token that does not expire. Fails
    /// if the token cannot be a header value.
    pub fn bearer(token: &str) -> Result<Credentials, crate::InvalidMetadata> {
        let mut metadata = Metadata::new();
        metadata.insert("authorization", &format!("Bearer {token}"))?;
        Ok(Credentials::from_metadata(metadata))
    }

    /// Sends these credentials over cleartext connections too: for a local sidecar or a test
    /// server, where the secret cannot be read off the wire by anyone who matters.
    pub fn allow_cleartext(mut self) -> Credentials {
        self.cleartext = true;
        self
    }

    /// Adds this call's metadata to `metadata`.
    pub(crate) async fn apply(
        &self,
        call: CallInfo,
        metadata: &mut Metadata,
    ) -> Result<(), Status> {
        if !call.secure && !self.cleartext {
            return Err(Status::unauthenticated(format!(
                "call credentials are not sent over a cleartext connection to {}: connect with \
                 https:// (or TLS settings), or make them with Credentials::allow_cleartext",
                call.authority
            )));
        }
        let added = self
            .source
            .metadata(call)
            .await
            .map_err(status_for_failure)?;
        metadata.extend(added);
        Ok(())
    }
}

/// The status a call fails with when its credentials fail (gRFC A54): a source's own status
/// keeps its code unless that code is one only a server may produce.
fn status_for_failure(error: BoxError) -> Status {
    match error.downcast::<Status>() {
        Ok(status) => match status.code() {
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::FailedPrecondition
            | Code::Aborted
            | Code::OutOfRange
            | Code::DataLoss
            | Code::Ok => Status::internal(format!(
                "call credentials failed with {:?}, a code they may not use: {}",
                status.code(),
                status.message()
            )),
            _ => Status::new(
                status.code(),
                format!("call credentials failed: {}", status.message()),
            ),
        },
        Err(error) => Status::unavailable(format!("call credentials failed: {error}")),
    }
}

struct Fixed(Metadata);

impl CallCredentials for Fixed {
    fn metadata(&self, _call: CallInfo) -> MetadataFuture<'_> {
        let metadata = self.0.clone();
        Box::pin(async move { Ok(metadata) })
    }
}

/// A token and when it stops being valid.
#[derive(Clone, Debug)]
pub struct Token {
    value: String,
    expires_at: Option<Instant>,
}

impl Token {
    /// A token valid until told otherwise.
    pub fn new(value: impl Into<String>) -> Token {
        Token {
            value: value.into(),
            expires_at: None,
        }
    }

    /// Valid for `lifetime` from now (an OAuth2 response's `expires_in`).
    pub fn expires_in(self, lifetime: Duration) -> Token {
        self.expires_at(Instant::now() + lifetime)
    }

    /// Valid until `at`.
    pub fn expires_at(mut self, at: Instant) -> Token {
        self.expires_at = Some(at);
        self
    }

    /// The token.
    pub fn value(&self) -> &str {
        &self.value
    }
}

/// Where a [`BearerToken`] gets its tokens: any `Fn() -> impl Future<Output = Result<Token, E>>`.
pub trait TokenSource: Send + Sync + 'static {
    /// Fetches a fresh token.
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Token, BoxError>> + Send + '_>>;
}

impl<F, Fut, E> TokenSource for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Token, E>> + Send + 'static,
    E: Into<BoxError>,
{
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Token, BoxError>> + Send + '_>> {
        let fetching = self();
        Box::pin(async move { fetching.await.map_err(Into::into) })
    }
}

/// `authorization: Bearer <token>` from a source of expiring tokens. The token is fetched on the
/// first call and again when it is about to expire (30 s before, by default); concurrent calls
/// wait for one fetch. A failed fetch while the old token is still valid keeps using it.
pub struct BearerToken {
    source: Box<dyn TokenSource>,
    refresh_before: Duration,
    /// The header value and its expiry; read by every call, so a plain mutex held briefly.
    current: Mutex<Option<(String, Option<Instant>)>>,
    /// Held while fetching, so that one fetch serves every waiting call.
    fetching: tokio::sync::Mutex<()>,
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerToken")
            .field("refresh_before", &self.refresh_before)
            .finish_non_exhaustive()
    }
}

impl BearerToken {
    /// Tokens from `source`.
    pub fn new(source: impl TokenSource) -> BearerToken {
        BearerToken {
            source: Box::new(source),
            refresh_before: Duration::from_secs(30),
            current: Mutex::new(None),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// Fetches a new token when the current one has less than this left (default 30 s).
    pub fn refresh_before(mut self, margin: Duration) -> BearerToken {
        self.refresh_before = margin;
        self
    }

    /// The current header value if it needs no refresh yet; and whether it is still usable.
    fn cached(&self, now: Instant) -> Option<(String, bool)> {
        let current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let (value, expires_at) = current.as_ref()?;
        let fresh = expires_at.is_none_or(|at| now + self.refresh_before < at);
        let valid = expires_at.is_none_or(|at| now < at);
        valid.then(|| (value.clone(), fresh))
    }

    async fn header(&self) -> Result<String, BoxError> {
        if let Some((value, true)) = self.cached(Instant::now()) {
            return Ok(value);
        }
        let _fetching = self.fetching.lock().await;
        // Another call may have fetched while this one waited.
        let stale = match self.cached(Instant::now()) {
            Some((value, true)) => return Ok(value),
            Some((value, false)) => Some(value),
            None => None,
        };
        match self.source.fetch().await {
            Ok(token) => {
                let value = format!("Bearer {}", token.value);
                *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((value.clone(), token.expires_at));
                Ok(value)
            }
            Err(error) => match stale {
                Some(value) => {
                    tracing::warn!(%error, "refreshing the bearer token failed; the current one is still valid");
                    Ok(value)
                }
                None => Err(error),
            },
        }
    }
}

impl CallCredentials for BearerToken {
    fn metadata(&self, _call: CallInfo) -> MetadataFuture<'_> {
        Box::pin(async move {
            let value = self.header().await?;
            let mut metadata = Metadata::new();
            metadata.insert("authorization", &value).map_err(|e| {
                Status::unauthenticated(format!(
                    "the bearer token is not a valid header value: {e}"
                ))
            })?;
            Ok(metadata)
        })
    }
}

/// The bearer token a call carries in `authorization: Bearer <token>`, or `UNAUTHENTICATED`
/// saying what is missing. For the server's handlers.
pub fn bearer_token<T>(request: &Request<T>) -> Result<&str, Status> {
    let header = request
        .metadata()
        .get("authorization")
        .ok_or_else(|| Status::unauthenticated("the call has no authorization metadata"))?;
    let (scheme, token) = header.split_once(' ').unwrap_or((header, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Status::unauthenticated(
            "the call's authorization is not a Bearer token",
        ));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(Status::unauthenticated("the call's bearer token is empty"));
    }
    Ok(token)
}

/// A server's set of accepted bearer tokens (API tokens given to clients, say), compared in
/// constant time so a caller cannot learn a token by timing the answer.
#[derive(Clone)]
pub struct BearerTokens {
    accepted: Arc<[Vec<u8>]>,
}

impl fmt::Debug for BearerTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BearerTokens")
            .field("count", &self.accepted.len())
            .finish()
    }
}

impl BearerTokens {
    /// Accepts these tokens.
    pub fn new<I, S>(tokens: I) -> BearerTokens
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        BearerTokens {
            accepted: tokens
                .into_iter()
                .map(|t| t.as_ref().as_bytes().to_vec())
                .collect(),
        }
    }

    /// Passes a call that carries one of the tokens; fails any other with `UNAUTHENTICATED`.
    pub fn check<T>(&self, request: &Request<T>) -> Result<(), Status> {
        let token = bearer_token(request)?.as_bytes();
        // Every accepted token is compared in full, whichever matches.
        let matched = self.accepted.iter().fold(false, |found, accepted| {
            found | constant_time_eq(accepted, token)
        });
        if matched {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "the call's bearer token is not accepted",
            ))
        }
    }
}

/// Compares two byte strings in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn call(secure: bool) -> CallInfo {
        CallInfo::new(
            PathAndQuery::from_static("/pkg.Svc/Get"),
            Authority::from_static("api.test:443"),
            secure,
        )
    }

    #[test]
    fn call_info_names_the_service_and_its_url() {
        let info = call(true);
        assert_eq!(info.method(), "/pkg.Svc/Get");
        assert_eq!(info.service(), "pkg.Svc");
        assert_eq!(info.service_url(), "https://api.test:443/pkg.Svc");
    }

    #[test]
    fn restricted_codes_become_internal_and_plain_errors_unavailable() {
        let status = status_for_failure(Box::new(Status::not_found("no such key")));
        assert_eq!(status.code(), Code::Internal);
        assert!(status.message().contains("no such key"));
        let status = status_for_failure(Box::new(Status::permission_denied("revoked")));
        assert_eq!(status.code(), Code::PermissionDenied);
        let io = std::io::Error::other("metadata server unreachable");
        let status = status_for_failure(Box::new(io));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("metadata server unreachable"));
    }

    #[tokio::test]
    async fn cleartext_is_refused_unless_allowed() {
        let creds = Credentials::bearer("secret").unwrap();
        let mut metadata = Metadata::new();
        let refused = creds.apply(call(false), &mut metadata).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated);
        assert!(refused.message().contains("api.test:443"));
        assert!(metadata.is_empty());
        creds
            .allow_cleartext()
            .apply(call(false), &mut metadata)
            .await
            .unwrap();
        assert_eq!(metadata.get("authorization"), Some("Bearer secret"));
    }

    #[tokio::test]
    async fn bearer_tokens_are_fetched_once_and_again_near_expiry() {
        let fetches = Arc::new(AtomicU32::new(0));
        let counter = fetches.clone();
        let token = BearerToken::new(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                // The first token is already inside the refresh margin.
                let lifetime = if n == 1 { 10 } else { 3600 };
                Ok::<_, Status>(
                    Token::new(format!("t{n}")).expires_in(Duration::from_secs(lifetime)),
                )
            }
        });
        let creds = Credentials::new(token);
        let mut first = Metadata::new();
        creds.apply(call(true), &mut first).await.unwrap();
        assert_eq!(first.get("authorization"), Some("Bearer t1"));
        let mut second = Metadata::new();
        creds.apply(call(true), &mut second).await.unwrap();
        assert_eq!(second.get("authorization"), Some("Bearer t2"));
        let mut third = Metadata::new();
        creds.apply(call(true), &mut third).await.unwrap();
        assert_eq!(third.get("authorization"), Some("Bearer t2"));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_refresh_keeps_a_token_that_is_still_valid() {
        let fetches = Arc::new(AtomicU32::new(0));
        let counter = fetches.clone();
        let token = BearerToken::new(move || {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Ok(Token::new("old").expires_in(Duration::from_secs(5)))
                } else {
                    Err(Status::unavailable("token endpoint down"))
                }
            }
        });
        let creds = Credentials::new(token);
        for _ in 0..2 {
            let mut metadata = Metadata::new();
            creds.apply(call(true), &mut metadata).await.unwrap();
            assert_eq!(metadata.get("authorization"), Some("Bearer old"));
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn servers_read_and_check_bearer_tokens() {
        let mut request = Request::new(());
        assert_eq!(
            bearer_token(&request).unwrap_err().code(),
            Code::Unauthenticated
        );
        request
            .metadata_mut()
            .insert("authorization", "Basic abc")
            .unwrap();
        assert!(bearer_token(&request)
            .unwrap_err()
            .message()
            .contains("not a Bearer"));
        request
            .metadata_mut()
            .insert("authorization", "bearer  tok-1")
            .unwrap();
        assert_eq!(bearer_token(&request).unwrap(), "tok-1");
        let tokens = BearerTokens::new(["tok-0", "tok-1"]);
        tokens.check(&request).unwrap();
        request
            .metadata_mut()
            .insert("authorization", "Bearer tok-2")
            .unwrap();
        assert_eq!(
            tokens.check(&request).unwrap_err().code(),
            Code::Unauthenticated
        );
    }
}
