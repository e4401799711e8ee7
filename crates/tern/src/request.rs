//! What a call carries besides its messages: `Request<T>` and `Response<T>`, each a message (or a
//! stream of them) with metadata, and on the request side the call's deadline.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_core::Stream;

use crate::metadata::Metadata;

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
    remote_addr: Option<SocketAddr>,
}

impl<T> Request<T> {
    /// A request with no metadata and no deadline.
    pub fn new(message: T) -> Request<T> {
        Request {
            metadata: Metadata::new(),
            message,
            timeout: None,
            deadline: None,
            remote_addr: None,
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

    /// On the server: the address of the peer that sent this request.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.remote_addr
    }

    /// Swaps the message, keeping the metadata and deadline.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Request<U> {
        Request {
            metadata: self.metadata,
            message: f(self.message),
            timeout: self.timeout,
            deadline: self.deadline,
            remote_addr: self.remote_addr,
        }
    }

    pub(crate) fn from_parts(
        metadata: Metadata,
        message: T,
        deadline: Option<Instant>,
        remote_addr: Option<SocketAddr>,
    ) -> Request<T> {
        Request {
            metadata,
            message,
            timeout: None,
            deadline,
            remote_addr,
        }
    }

    pub(crate) fn into_parts(self) -> (Metadata, T, Option<Duration>) {
        let timeout = self.timeout();
        (self.metadata, self.message, timeout)
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
}

impl<T> Response<T> {
    /// A response with no metadata.
    pub fn new(message: T) -> Response<T> {
        Response {
            metadata: Metadata::new(),
            trailers: Metadata::new(),
            message,
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
        }
    }

    pub(crate) fn from_parts(metadata: Metadata, message: T, trailers: Metadata) -> Response<T> {
        Response {
            metadata,
            trailers,
            message,
        }
    }

    pub(crate) fn into_parts(self) -> (Metadata, T, Metadata) {
        (self.metadata, self.message, self.trailers)
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
