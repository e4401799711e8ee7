//! What a call carries besides its messages: `Request<T>` and `Response<T>`, each a message (or a
//! stream of them) with metadata, and on the request side the call's deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_core::Stream;

use crate::credentials::Credentials;
use crate::message::CompressionSwitch;
use crate::metadata::Metadata;
use crate::protocol::compression::CompressionEncoding;
use crate::server::ShutdownSignal;

/// A request: the message (or `Streaming` of messages) and its metadata.
///
/// On the client, set a deadline with [`Request::set_timeout`]; on the server, read the caller's
/// with [`Request::deadline`] and pass what is left on to outgoing calls.
#[derive(Debug)]
pub struct Request<T> {
    metadata: Metadata,
    message: T,
    timeout: Option<Duration>,
    deadline: Option<Instant>,
    peer: Peer,
    compression: Compression,
    shutdown: Option<ShutdownSignal>,
    credentials: Option<Credentials>,
    extensions: http::Extensions,
    wait_for_ready: Option<bool>,
}

/// The other end of a call's connection, as the server sees it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Peer {
    pub(crate) addr: Option<SocketAddr>,
    #[cfg(feature = "tls-core")]
    pub(crate) tls: Option<std::sync::Arc<crate::tls::TlsInfo>>,
    /// The connection's channelz counters, when the server records itself in channelz.
    pub(crate) channelz: Option<std::sync::Arc<crate::services::channelz::SocketEntry>>,
}

/// What the client sends of a request.
pub(crate) struct Outgoing<T> {
    pub(crate) metadata: Metadata,
    pub(crate) message: T,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Compression,
    pub(crate) credentials: Option<Credentials>,
    /// For the channel's interceptors (a trace context to continue, say).
    pub(crate) extensions: http::Extensions,
    pub(crate) wait_for_ready: Option<bool>,
}

/// A message's compression settings: for outgoing messages, the encoding and the per-message
/// switch; for an incoming unary message, whether it came compressed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Compression {
    pub(crate) send: Option<CompressionEncoding>,
    pub(crate) switch: Option<CompressionSwitch>,
    pub(crate) received_compressed: bool,
}

impl<T> Request<T> {
    /// A request with no metadata and no deadline.
    pub fn new(message: T) -> Request<T> {
        Request {
            metadata: Metadata::new(),
            message,
            timeout: None,
            deadline: None,
            peer: Peer::default(),
            compression: Compression::default(),
            shutdown: None,
            credentials: None,
            extensions: http::Extensions::new(),
            wait_for_ready: None,
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, for changing.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message out.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// The request metadata (custom headers).
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// The request metadata, for changing.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Sets the call's timeout: sent as `grpc-timeout`, enforced by both sides.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = Some(timeout);
    }

    /// The timeout set on an outgoing request; on the server, the time left before the deadline.
    pub fn timeout(&self) -> Option<Duration> {
        match self.deadline {
            Some(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
            None => self.timeout,
        }
    }

    /// On the server: the instant at which the caller gives up, if it set a deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// On the server: the address of the peer that sent this request (`None` on a Unix socket).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.peer.addr
    }

    /// On the server: the certificate chain the client presented in the TLS handshake, leaf
    /// first; `None` on a cleartext connection or when the client presented none (a server
    /// with [`ClientAuth::Optional`](crate::tls::ClientAuth::Optional)).
    #[cfg(feature = "tls-core")]
    pub fn peer_certificates(&self) -> Option<&[crate::tls::CertificateDer<'static>]> {
        self.peer.tls.as_ref()?.peer_certificates.as_deref()
    }

    /// On the server: the server name the client asked for in the TLS handshake (SNI), if any.
    #[cfg(feature = "tls-core")]
    pub fn tls_server_name(&self) -> Option<&str> {
        self.peer.tls.as_ref()?.server_name.as_deref()
    }

    /// On the server: whether the request came over TLS.
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls-core")]
        return self.peer.tls.is_some();
        #[cfg(not(feature = "tls-core"))]
        false
    }

    /// Swaps the message, keeping the metadata and deadline.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            metadata: self.metadata,
            message: f(self.message),
            timeout: self.timeout,
            deadline: self.deadline,
            peer: self.peer,
            compression: self.compression,
            shutdown: self.shutdown,
            credentials: self.credentials,
            extensions: self.extensions,
            wait_for_ready: self.wait_for_ready,
        }
    }

    /// Typed values attached to the request: on the server, what interceptors put there (the
    /// authenticated user, say; see [`interceptor`](crate::interceptor)); on the client, what
    /// the channel's interceptors may read (the trace context to continue, say).
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// Typed values attached to the request, to add to or take from.
    pub fn extensions_mut(&mut self) -> &mut http::Extensions {
        &mut self.extensions
    }

    pub(crate) fn set_extensions(&mut self, extensions: http::Extensions) {
        self.extensions = extensions;
    }

    /// On the client: compresses this call's messages with `encoding`, whatever the client's
    /// default. The server must support it, or the call fails `UNIMPLEMENTED`.
    pub fn set_send_compression(&mut self, encoding: CompressionEncoding) {
        self.compression.send = Some(encoding);
    }

    /// On the client: a switch to turn compression off and on between the messages of a
    /// compressed call (see [`CompressionSwitch`]).
    pub fn set_compression_switch(&mut self, switch: CompressionSwitch) {
        self.compression.switch = Some(switch);
    }

    /// On the server: whether the request message arrived compressed (for a streaming request,
    /// see [`Streaming::was_compressed`](crate::Streaming::was_compressed)).
    pub fn was_compressed(&self) -> bool {
        self.compression.received_compressed
    }

    pub(crate) fn from_parts(
        metadata: Metadata,
        message: T,
        deadline: Option<Instant>,
        peer: Peer,
        received_compressed: bool,
    ) -> Request<T> {
        Request {
            metadata,
            message,
            timeout: None,
            deadline,
            peer,
            compression: Compression {
                received_compressed,
                ..Compression::default()
            },
            shutdown: None,
            credentials: None,
            extensions: http::Extensions::new(),
            wait_for_ready: None,
        }
    }

    /// On the server: tells when the connection starts draining (shutdown or max age), for
    /// long-lived streams that should end cleanly.
    pub fn shutdown_signal(&self) -> Option<&ShutdownSignal> {
        self.shutdown.as_ref()
    }

    pub(crate) fn set_shutdown_signal(&mut self, signal: ShutdownSignal) {
        self.shutdown = Some(signal);
    }

    /// On the client: sends this call with these credentials' metadata, besides any the
    /// channel has (see [`credentials`](crate::credentials)).
    pub fn set_credentials(&mut self, credentials: Credentials) {
        self.credentials = Some(credentials);
    }

    /// On the client: makes the call wait for the channel to be READY, within its deadline,
    /// rather than fail at once with UNAVAILABLE while the channel is in TRANSIENT_FAILURE
    /// (gRPC's wait-for-ready; off by default). A call always waits while the channel is
    /// CONNECTING or IDLE.
    ///
    /// Setting it, to either value, takes the place of what the channel's service config says.
    pub fn set_wait_for_ready(&mut self, wait: bool) {
        self.wait_for_ready = Some(wait);
    }

    /// On the client: whether the call waits for the channel to be READY (as far as the call
    /// itself says; the service config may say so too).
    pub fn wait_for_ready(&self) -> bool {
        self.wait_for_ready.unwrap_or(false)
    }

    pub(crate) fn into_outgoing(self) -> Outgoing<T> {
        Outgoing {
            timeout: self.timeout(),
            metadata: self.metadata,
            message: self.message,
            compression: self.compression,
            credentials: self.credentials,
            extensions: self.extensions,
            wait_for_ready: self.wait_for_ready,
        }
    }
}

/// Anything a generated client method accepts as its request: the message alone, or a
/// [`Request`] carrying it with metadata and a timeout.
pub trait IntoRequest<T> {
    /// Wraps the message in a request, if it is not one already.
    fn into_request(self) -> Request<T>;
}

impl<T> IntoRequest<T> for T {
    fn into_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoRequest<T> for Request<T> {
    fn into_request(self) -> Request<T> {
        self
    }
}

/// A response: the message (or stream of messages), its initial metadata (headers) and its
/// trailing metadata (sent with the OK status).
#[derive(Debug)]
pub struct Response<T> {
    metadata: Metadata,
    trailers: Metadata,
    message: T,
    compression: Compression,
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            metadata: Metadata::new(),
            trailers: Metadata::new(),
            message,
            compression: Compression::default(),
        }
    }

    /// The message.
    pub fn get_ref(&self) -> &T {
        &self.message
    }

    /// The message, for changing.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.message
    }

    /// Takes the message out.
    pub fn into_inner(self) -> T {
        self.message
    }

    /// Initial metadata: the response headers.
    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// Initial metadata, for changing.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.metadata
    }

    /// Trailing metadata: sent after the last message, beside `grpc-status`.
    pub fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    /// Trailing metadata, for changing.
    pub fn trailers_mut(&mut self) -> &mut Metadata {
        &mut self.trailers
    }

    /// Swaps the message, keeping the metadata.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Response<U> {
        Response {
            metadata: self.metadata,
            trailers: self.trailers,
            message: f(self.message),
            compression: self.compression,
        }
    }

    /// On the server: compresses this call's response messages with `encoding`, if the client
    /// accepts it (its `grpc-accept-encoding`); otherwise they go uncompressed.
    pub fn set_send_compression(&mut self, encoding: CompressionEncoding) {
        self.compression.send = Some(encoding);
    }

    /// On the server: a switch to turn compression off and on between response messages (see
    /// [`CompressionSwitch`]).
    pub fn set_compression_switch(&mut self, switch: CompressionSwitch) {
        self.compression.switch = Some(switch);
    }

    /// On the client: whether the response message arrived compressed.
    pub fn was_compressed(&self) -> bool {
        self.compression.received_compressed
    }

    pub(crate) fn from_parts(metadata: Metadata, message: T, trailers: Metadata) -> Response<T> {
        Response {
            metadata,
            trailers,
            message,
            compression: Compression::default(),
        }
    }

    pub(crate) fn set_received_compressed(&mut self, compressed: bool) {
        self.compression.received_compressed = compressed;
    }

    pub(crate) fn into_parts(self) -> (Metadata, T, Metadata, Compression) {
        (self.metadata, self.message, self.trailers, self.compression)
    }
}

/// Anything a generated client method accepts as its stream of requests: a `Stream` of messages
/// alone, or a [`Request`] carrying one with metadata and a timeout.
pub trait IntoStreamingRequest {
    /// The stream of messages.
    type Stream: Stream<Item = Self::Message> + Send + 'static;
    /// The type of each message.
    type Message;

    /// Wraps the stream in a request, if it is not one already.
    fn into_streaming_request(self) -> Request<Self::Stream>;
}

impl<T> IntoStreamingRequest for T
where
    T: Stream + Send + 'static,
{
    type Stream = T;
    type Message = T::Item;

    fn into_streaming_request(self) -> Request<T> {
        Request::new(self)
    }
}

impl<T> IntoStreamingRequest for Request<T>
where
    T: Stream + Send + 'static,
{
    type Stream = T;
    type Message = T::Item;

    fn into_streaming_request(self) -> Request<T> {
        self
    }
}
