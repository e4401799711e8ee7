//! Interceptors: async code that runs around calls, on the server before the handler and on the
//! client before the request goes out, in the order they were added.
//!
//! An interceptor looks at the start of a call — the method, the metadata, the deadline and, on
//! the server, the peer — and may change the metadata, shorten the deadline, attach typed values
//! for the handler ([`IncomingCall::extensions_mut`], read back with
//! [`Request::extensions`](crate::Request::extensions)), add response headers, or reject the call
//! with a [`Status`] before anything else runs. If it accepts, it returns a [`CallObserver`]: its
//! state for this call, told of every message each way and of the final status (where it may add
//! trailers). Observers hear the end in the reverse order of their interceptors, so the first
//! interceptor added sees the call first and last, around everything after it.
//!
//! ```
//! use tern::interceptor::{IncomingCall, ServerInterceptor};
//! use tern::Status;
//!
//! /// Lets through only calls that carry `x-tenant`, and hands the tenant to the handler.
//! struct Tenant;
//!
//! #[derive(Clone)]
//! struct TenantId(String);
//!
//! impl ServerInterceptor for Tenant {
//!     type Observer = ();
//!
//!     async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<(), Status> {
//!         let tenant = call
//!             .metadata()
//!             .get("x-tenant")
//!             .ok_or_else(|| Status::unauthenticated("no x-tenant"))?
//!             .to_owned();
//!         call.extensions_mut().insert(TenantId(tenant));
//!         Ok(())
//!     }
//! }
//!
//! let server = tern::Server::builder().intercept(Tenant);
//! # drop(server);
//! ```
//!
//! A server runs its own interceptors ([`Server::intercept`](crate::Server::intercept)) for every
//! call, unknown methods included, and then a service's
//! ([`Service::intercept`](crate::server::Service::intercept)) for that service's calls. A
//! client runs a channel's ([`ChannelBuilder::intercept`](crate::client::ChannelBuilder::intercept))
//! for every call made on it. Servers and channels with no interceptor pay nothing for them.
//!
//! Ready-made ones are in [`builtin`]: bearer tokens and API keys, request logging, a
//! concurrency limit, a rate limit and a deadline cap.

pub mod builtin;
pub(crate) mod chain;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::uri::PathAndQuery;

use crate::metadata::Metadata;
use crate::request::Peer;
use crate::status::Status;

/// Runs on the server before a call's handler: see the [module docs](self).
pub trait ServerInterceptor: Send + Sync + 'static {
    /// This interceptor's state for one call; `()` when it only checks the start.
    type Observer: CallObserver;

    /// Looks at the start of a call and lets it through (with this call's observer) or rejects
    /// it with a status, which the client gets at once: the handler never runs.
    fn intercept(
        &self,
        call: &mut IncomingCall<'_>,
    ) -> impl Future<Output = Result<Self::Observer, Status>> + Send;
}

/// Runs on the client before a call is sent: see the [module docs](self).
pub trait ClientInterceptor: Send + Sync + 'static {
    /// This interceptor's state for one call; `()` when it only changes the start.
    type Observer: CallObserver;

    /// Looks at the start of a call and lets it go out (with this call's observer) or fails it
    /// with a status before anything is sent.
    fn intercept(
        &self,
        call: &mut OutgoingCall<'_>,
    ) -> impl Future<Output = Result<Self::Observer, Status>> + Send;
}

/// One interceptor's view of one call once it has started: each message, the response headers
/// and the final status. Every method has an empty default.
///
/// "Request" and "response" are the same on both sides: on the server, requests are received
/// and responses sent; on the client, the other way round. A panic in an observer is caught and
/// logged; the call goes on.
pub trait CallObserver: Send + 'static {
    /// A request message, after it was decoded (server) or encoded (client).
    fn on_request(&mut self, message: &Message<'_>) {
        let _ = message;
    }

    /// A response message, after it was encoded (server) or decoded (client).
    fn on_response(&mut self, message: &Message<'_>) {
        let _ = message;
    }

    /// On the client: the server's response headers, when they arrive.
    fn on_response_headers(&mut self, headers: &Metadata) {
        let _ = headers;
    }

    /// The call's final status, once. On the server `trailers` are about to be sent and may be
    /// added to; on the client they are what the server sent. A call the client cancelled, or
    /// whose connection was lost, ends with `CANCELLED` (or `UNAVAILABLE`) here even though no
    /// status was sent.
    fn on_finish(&mut self, status: &Status, trailers: &mut Metadata) {
        let _ = (status, trailers);
    }
}

impl CallObserver for () {}

/// A message as an observer sees it: the typed value and its size on the wire.
pub struct Message<'a> {
    value: &'a (dyn Any + Send),
    wire_size: usize,
}

impl<'a> Message<'a> {
    pub(crate) fn new(value: &'a (dyn Any + Send), wire_size: usize) -> Message<'a> {
        Message { value, wire_size }
    }

    /// The message, if it is a `T` (the generated message type of the method, for a
    /// `ProstCodec` service).
    pub fn downcast_ref<T: 'static>(&self) -> Option<&'a T> {
        self.value.downcast_ref()
    }

    /// Its size on the wire: the encoded bytes as sent, compressed if the message was, without
    /// gRPC's 5-byte message prefix.
    pub fn wire_size(&self) -> usize {
        self.wire_size
    }
}

impl fmt::Debug for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("wire_size", &self.wire_size)
            .finish_non_exhaustive()
    }
}

/// The start of an incoming call, as a [`ServerInterceptor`] sees it and may change it.
pub struct IncomingCall<'a> {
    pub(crate) service: &'a str,
    pub(crate) method: &'a str,
    pub(crate) registered: bool,
    pub(crate) metadata: &'a mut Metadata,
    pub(crate) deadline: &'a mut Option<Instant>,
    pub(crate) peer: &'a Peer,
    pub(crate) extensions: &'a mut http::Extensions,
    pub(crate) response_headers: &'a mut Metadata,
    pub(crate) span: &'a mut Option<tracing::Span>,
}

impl IncomingCall<'_> {
    /// The full service name, e.g. `hello.Hello` (what the client asked for: the server may
    /// have no such service).
    pub fn service(&self) -> &str {
        self.service
    }

    /// The method name within the service, e.g. `SayHello`.
    pub fn method(&self) -> &str {
        self.method
    }

    /// Whether the server has this method (a service of that name with a method of that
    /// name); a call to anything else will fail `UNIMPLEMENTED`.
    pub fn is_registered_method(&self) -> bool {
        self.registered
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        self.metadata
    }

    /// The request metadata, to change what the handler (and later interceptors) see.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        self.metadata
    }

    /// The instant at which the caller gives up, if it set a deadline.
    pub fn deadline(&self) -> Option<Instant> {
        *self.deadline
    }

    /// Makes the call's deadline `deadline`: the handler is cancelled and the client gets
    /// `DEADLINE_EXCEEDED` then. A later deadline than the client's is allowed but pointless,
    /// as the client gives up at its own.
    pub fn set_deadline(&mut self, deadline: Instant) {
        *self.deadline = Some(deadline);
    }

    /// The address of the peer (`None` on a Unix socket or in memory).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.peer.addr
    }

    /// The certificate chain the client presented in the TLS handshake, leaf first.
    #[cfg(feature = "tls-core")]
    pub fn peer_certificates(&self) -> Option<&[crate::tls::CertificateDer<'static>]> {
        self.peer.tls.as_ref()?.peer_certificates.as_deref()
    }

    /// Whether the call came over TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls-core")]
        return self.peer.tls.is_some();
        #[cfg(not(feature = "tls-core"))]
        false
    }

    /// Typed values handed to the handler, which reads them with
    /// [`Request::extensions`](crate::Request::extensions).
    pub fn extensions(&self) -> &http::Extensions {
        self.extensions
    }

    /// Typed values to hand to the handler (the authenticated user, say).
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        self.extensions
    }

    /// Headers to add to the response (sent with the handler's own, or with the status alone
    /// if the call fails before any message).
    pub fn response_headers_mut(&mut self) -> &mut Metadata {
        self.response_headers
    }

    /// Runs the rest of the call — later interceptors, the handler, the response — in `span`
    /// (see [`builtin::TraceCalls`]). The last interceptor to set one wins.
    pub fn instrument(&mut self, span: tracing::Span) {
        *self.span = Some(span);
    }
}

impl fmt::Debug for IncomingCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncomingCall")
            .field("service", &self.service)
            .field("method", &self.method)
            .field("metadata", &self.metadata)
            .field("deadline", &self.deadline)
            .field("remote_addr", &self.peer.addr)
            .finish_non_exhaustive()
    }
}

/// The start of an outgoing call, as a [`ClientInterceptor`] sees it and may change it.
pub struct OutgoingCall<'a> {
    pub(crate) target: &'a str,
    pub(crate) path: &'a PathAndQuery,
    pub(crate) authority: &'a str,
    pub(crate) metadata: &'a mut Metadata,
    pub(crate) timeout: &'a mut Option<Duration>,
    pub(crate) extensions: &'a http::Extensions,
}

impl OutgoingCall<'_> {
    /// The method's path, e.g. `/hello.Hello/SayHello`.
    pub fn path(&self) -> &str {
        self.path.path()
    }

    /// The full service name, e.g. `hello.Hello`.
    pub fn service(&self) -> &str {
        split_path(self.path.path()).0
    }

    /// The method name within the service, e.g. `SayHello`.
    pub fn method(&self) -> &str {
        split_path(self.path.path()).1
    }

    /// The channel's target, as given to [`Channel::builder`](crate::Channel::builder).
    pub fn target(&self) -> &str {
        self.target
    }

    /// The server's authority (`host:port`), as sent in `:authority`.
    pub fn authority(&self) -> &str {
        self.authority
    }

    /// The request metadata.
    pub fn metadata(&self) -> &Metadata {
        self.metadata
    }

    /// The request metadata, to add to or change before it is sent.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        self.metadata
    }

    /// The call's timeout, if it has one.
    pub fn timeout(&self) -> Option<Duration> {
        *self.timeout
    }

    /// Gives the call this timeout (counted from now, as the call starts).
    pub fn set_timeout(&mut self, timeout: Duration) {
        *self.timeout = Some(timeout);
    }

    /// The typed values the caller attached to the request
    /// ([`Request::extensions_mut`](crate::Request::extensions_mut)).
    pub fn extensions(&self) -> &http::Extensions {
        self.extensions
    }
}

impl fmt::Debug for OutgoingCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingCall")
            .field("path", &self.path.path())
            .field("metadata", &self.metadata)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// `/service/method` split in two; both empty for a malformed path.
fn split_path(path: &str) -> (&str, &str) {
    path.strip_prefix('/')
        .and_then(|p| p.split_once('/'))
        .unwrap_or(("", ""))
}

/// A server interceptor from a plain function, for checks that need no `await`.
///
/// ```
/// use tern::interceptor::from_fn;
/// let server = tern::Server::builder().intercept(from_fn(|call| {
///     match call.metadata().get("x-version") {
///         Some("2") => Ok(()),
///         _ => Err(tern::Status::failed_precondition("this server speaks version 2")),
///     }
/// }));
/// # drop(server);
/// ```
pub fn from_fn<F>(f: F) -> FnInterceptor<F>
where
    F: Fn(&mut IncomingCall<'_>) -> Result<(), Status> + Send + Sync + 'static,
{
    FnInterceptor(f)
}

/// A server interceptor made by [`from_fn`].
#[derive(Clone)]
pub struct FnInterceptor<F>(F);

impl<F> fmt::Debug for FnInterceptor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnInterceptor")
    }
}

impl<F> ServerInterceptor for FnInterceptor<F>
where
    F: Fn(&mut IncomingCall<'_>) -> Result<(), Status> + Send + Sync + 'static,
{
    type Observer = ();

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<(), Status> {
        (self.0)(call)
    }
}

/// A client interceptor from a plain function: adding a header to every call, say.
///
/// ```
/// use tern::interceptor::client_fn;
/// let channel = tern::Channel::builder("http://127.0.0.1:5000")
///     .unwrap()
///     .intercept(client_fn(|call| {
///         call.metadata_mut().insert("x-client", "inventory")?;
///         Ok(())
///     }))
///     .lazy();
/// # drop(channel);
/// ```
pub fn client_fn<F>(f: F) -> ClientFnInterceptor<F>
where
    F: Fn(&mut OutgoingCall<'_>) -> Result<(), Status> + Send + Sync + 'static,
{
    ClientFnInterceptor(f)
}

/// A client interceptor made by [`client_fn`].
#[derive(Clone)]
pub struct ClientFnInterceptor<F>(F);

impl<F> fmt::Debug for ClientFnInterceptor<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientFnInterceptor")
    }
}

impl<F> ClientInterceptor for ClientFnInterceptor<F>
where
    F: Fn(&mut OutgoingCall<'_>) -> Result<(), Status> + Send + Sync + 'static,
{
    type Observer = ();

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<(), Status> {
        (self.0)(call)
    }
}
