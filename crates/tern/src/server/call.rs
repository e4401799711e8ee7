//! One incoming call, from its parsed head to its final status: reading the request, running the
//! handler under the call's deadline and the client's cancellation (and catching its panics), and
//! writing the response, for each of gRPC's four method shapes.

use std::any::Any;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::BytesMut;
use futures_core::Stream;
use http::{HeaderMap, HeaderValue, Response as HttpResponse, StatusCode};
use tokio::sync::watch;

use crate::codec::Codec;
use crate::interceptor::chain::Observers;
use crate::message::{stream_decoder, ReceiveMessages, SendMessages};
use crate::metadata::Metadata;
use crate::protocol::compression::{accept_encoding, CompressionEncoding, EncodingSet};
use crate::protocol::frame::HEADER_LEN;
use crate::protocol::headers::{
    write_status, CONTENT_TYPE_GRPC, GRPC_ACCEPT_ENCODING, GRPC_ENCODING, GRPC_STATUS,
};
use crate::request::{Compression, Peer, Request, Response};
use crate::status::{Code, Status};
use crate::streaming::Streaming;
use crate::transport::server::Responder;
use crate::transport::{RecvBody, SendBody};

/// Message size limits that apply to a call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    pub(crate) max_decoding_message_size: usize,
    pub(crate) max_encoding_message_size: usize,
}

/// An incoming call, routed to its service, not yet read. Generated code hands it to one of the
/// method-shape functions in [`crate::codegen`].
#[derive(Debug)]
pub struct ServerCall {
    pub(crate) metadata: HeaderMap,
    pub(crate) body: RecvBody,
    pub(crate) respond: Responder,
    pub(crate) deadline: Option<Instant>,
    pub(crate) peer: Peer,
    pub(crate) limits: Limits,
    /// The request's `grpc-encoding`, for its compressed messages.
    pub(crate) request_encoding: Option<CompressionEncoding>,
    /// The encodings the client accepts for the response (`grpc-accept-encoding`).
    pub(crate) accepted: EncodingSet,
    /// The server's default compression for responses.
    pub(crate) send_compression: Option<CompressionEncoding>,
    pub(crate) shutdown: ShutdownSignal,
    /// Typed values from interceptors, for the handler's `Request`.
    pub(crate) extensions: http::Extensions,
    /// The observers of the interceptors that accepted the call; `None` when there are none.
    pub(crate) observers: Option<Arc<Observers>>,
    /// The span an interceptor asked the rest of the call to run in.
    pub(crate) span: Option<tracing::Span>,
}

/// Tells a handler that its connection is draining — the server is shutting down, or the
/// connection reached its maximum age — so that a long-lived stream can end cleanly before its
/// grace period runs out and it is cancelled.
///
/// ```no_run
/// # async fn f(request: tern::Request<()>) {
/// if let Some(shutdown) = request.shutdown_signal() {
///     shutdown.draining().await; // then finish the stream
/// }
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ShutdownSignal(watch::Receiver<bool>);

impl ShutdownSignal {
    pub(crate) fn new(receiver: watch::Receiver<bool>) -> ShutdownSignal {
        ShutdownSignal(receiver)
    }

    /// True once the connection has started draining.
    pub fn is_draining(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when the connection starts draining (at once if it already has, or if it is
    /// gone).
    pub async fn draining(&self) {
        let mut receiver = self.0.clone();
        let _ = receiver.wait_for(|draining| *draining).await;
    }
}

/// Per-service overrides of the server's message size limits.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServiceLimits {
    /// The largest request message the service accepts.
    pub max_decoding_message_size: Option<usize>,
    /// The largest response message the service sends.
    pub max_encoding_message_size: Option<usize>,
}

impl ServerCall {
    /// Applies a service's own limits over the server's.
    pub fn with_limits(mut self, limits: &ServiceLimits) -> ServerCall {
        if let Some(max) = limits.max_decoding_message_size {
            self.limits.max_decoding_message_size = max;
        }
        if let Some(max) = limits.max_encoding_message_size {
            self.limits.max_encoding_message_size = max;
        }
        self
    }
}

/// Why a handler did not produce its outcome.
pub(super) enum Interrupted {
    Deadline,
    Panicked(Box<dyn Any + Send>),
    Reset(Status),
}

impl Interrupted {
    /// The status to send, or `None` when the client is gone and there is no one to tell.
    pub(super) fn into_status(self) -> Option<Status> {
        match self {
            Interrupted::Deadline => Some(Status::deadline_exceeded("deadline exceeded")),
            Interrupted::Panicked(payload) => {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(panic = %what, "gRPC handler panicked");
                Some(Status::unknown("handler panicked"))
            }
            Interrupted::Reset(status) => {
                tracing::debug!(%status, "call cancelled by the client");
                None
            }
        }
    }
}

/// Runs `fut` until it finishes, the deadline passes, the client resets the stream, or it panics.
/// Whichever comes first wins, and the future is dropped: a cancelled handler stops at once.
pub(super) async fn guarded<T>(
    fut: impl Future<Output = T>,
    deadline: Option<Instant>,
    mut poll_reset: impl FnMut(&mut Context<'_>) -> Poll<Status>,
) -> Result<T, Interrupted> {
    let mut fut = pin!(fut);
    let mut sleep = pin!(deadline.map(|d| tokio::time::sleep_until(d.into())));
    poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => return Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => {}
            Err(payload) => return Poll::Ready(Err(Interrupted::Panicked(payload))),
        }
        if let Some(sleep) = sleep.as_mut().as_pin_mut() {
            if sleep.poll(cx).is_ready() {
                return Poll::Ready(Err(Interrupted::Deadline));
            }
        }
        if let Poll::Ready(status) = poll_reset(cx) {
            return Poll::Ready(Err(Interrupted::Reset(status)));
        }
        Poll::Pending
    })
    .await
}

impl ServerCall {
    /// Answers with a status alone, in one HEADERS frame (gRPC's Trailers-Only response).
    pub(crate) fn reject(mut self, status: Status) {
        send_trailers_only(&mut self.respond, &status, self.observers.as_deref());
    }

    /// Answers `UNIMPLEMENTED`: the service has no such method.
    pub fn unimplemented(self, service: &str, method: &str) {
        self.reject(Status::unimplemented(format!(
            "unknown method {method} for service {service}"
        )));
    }
}

/// Sends the status alone; interceptors' response headers and trailers go in the same block.
fn send_trailers_only(respond: &mut Responder, status: &Status, observers: Option<&Observers>) {
    let mut head = HttpResponse::new(());
    if let Some(observers) = observers {
        let mut metadata = observers.take_response_headers();
        observers.finish(status, &mut metadata);
        *head.headers_mut() = metadata.into_headers();
    }
    let headers = head.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, CONTENT_TYPE_GRPC);
    write_status(status, headers);
    if let Err(e) = respond.send_headers_only(head) {
        tracing::debug!(error = %e, "could not send status");
    }
}

/// What the call knows besides its messages, kept for answering it.
struct CallInfo {
    deadline: Option<Instant>,
    peer: Peer,
    limits: Limits,
    receive: ReceiveMessages,
    accepted: EncodingSet,
    send_compression: Option<CompressionEncoding>,
    shutdown: ShutdownSignal,
    observers: Option<Arc<Observers>>,
}

/// What the handler's `Request` gets besides the message.
struct RequestHead {
    metadata: Metadata,
    extensions: http::Extensions,
}

impl CallInfo {
    fn request<T>(&self, head: RequestHead, message: T, compressed: bool) -> Request<T> {
        let mut request = Request::from_parts(
            head.metadata,
            message,
            self.deadline,
            self.peer.clone(),
            compressed,
        );
        request.set_shutdown_signal(self.shutdown.clone());
        request.set_extensions(head.extensions);
        request
    }

    fn observers(&self) -> Option<&Observers> {
        self.observers.as_deref()
    }

    /// Tells the observers of a call that ended with no one to tell (the client reset it).
    fn cancelled(&self) {
        if let Some(observers) = self.observers() {
            observers.finish_cancelled();
        }
    }

    /// The trailers of a call that ended with `status`, with what observers add to them.
    fn trailers(&self, status: &Status, mut trailers: Metadata) -> HeaderMap {
        if let Some(observers) = self.observers() {
            observers.finish(status, &mut trailers);
        }
        let mut headers = trailers.into_headers();
        write_status(status, &mut headers);
        headers
    }

    fn observe_request(&self, message: &(dyn Any + Send), wire_size: usize) {
        if let Some(observers) = self.observers() {
            observers.request(message, wire_size);
        }
    }

    /// How to send the response: the call's own compression or the server's, if the client
    /// accepts it.
    fn sender(&self, compression: Compression) -> SendMessages {
        let encoding = compression
            .send
            .or(self.send_compression)
            .filter(|e| self.accepted.contains(*e));
        SendMessages {
            limit: self.limits.max_encoding_message_size,
            compression: encoding,
            switch: compression.switch,
        }
    }
}

impl ServerCall {
    fn into_parts(self) -> (RequestHead, RecvBody, Responder, CallInfo) {
        let info = CallInfo {
            deadline: self.deadline,
            peer: self.peer,
            limits: self.limits,
            receive: ReceiveMessages {
                limit: self.limits.max_decoding_message_size,
                encoding: self.request_encoding,
            },
            accepted: self.accepted,
            send_compression: self.send_compression,
            shutdown: self.shutdown,
            observers: self.observers,
        };
        let head = RequestHead {
            metadata: Metadata::from_headers(self.metadata),
            extensions: self.extensions,
        };
        (head, self.body, self.respond, info)
    }
}

fn response_head(
    mut metadata: Metadata,
    sender: &SendMessages,
    observers: Option<&Observers>,
) -> HttpResponse<()> {
    let mut head = HttpResponse::new(());
    *head.status_mut() = StatusCode::OK;
    if let Some(observers) = observers {
        metadata.extend(observers.take_response_headers());
    }
    let mut headers = metadata.into_headers();
    headers.insert(http::header::CONTENT_TYPE, CONTENT_TYPE_GRPC);
    headers.insert(GRPC_ACCEPT_ENCODING, accept_encoding());
    if let Some(encoding) = sender.compression {
        headers.insert(GRPC_ENCODING, HeaderValue::from_static(encoding.name()));
    }
    *head.headers_mut() = headers;
    head
}

fn ok_trailers(trailers: Metadata, info: &CallInfo) -> HeaderMap {
    if info.observers.is_some() {
        return info.trailers(&Status::new(Code::Ok, ""), trailers);
    }
    let mut headers = trailers.into_headers();
    headers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
    headers
}

/// Sends a whole unary response: headers, the message and the OK trailers, queued together.
fn send_unary<C: Codec>(
    respond: &mut Responder,
    codec: &C,
    response: Response<C::Encode>,
    info: &CallInfo,
) {
    let (metadata, message, trailers, compression) = response.into_parts();
    let sender = info.sender(compression);
    let frame = match sender.encode(codec, &message) {
        Ok(frame) => frame,
        Err(status) => return send_trailers_only(respond, &status, info.observers()),
    };
    if let Some(observers) = info.observers() {
        observers.response(&message, frame.len() - HEADER_LEN);
    }
    let sent = respond
        .send_headers(response_head(metadata, &sender, info.observers()))
        .and_then(|mut body| {
            body.send_now(frame, false)?;
            body.send_trailers(ok_trailers(trailers, info))
        });
    if let Err(e) = sent {
        tracing::debug!(error = %e, "could not send response");
    }
}

/// Sends a stream of response messages, then the status it ended with.
async fn send_stream<C, S>(
    respond: &mut Responder,
    codec: &C,
    response: Response<S>,
    info: &CallInfo,
) where
    C: Codec,
    S: Stream<Item = Result<C::Encode, Status>>,
{
    let (metadata, stream, trailers, compression) = response.into_parts();
    let sender = info.sender(compression);
    let mut body = match respond.send_headers(response_head(metadata, &sender, info.observers())) {
        Ok(body) => body,
        Err(e) => {
            info.cancelled();
            return tracing::debug!(error = %e, "could not send response headers");
        }
    };
    // Tells the observers of each message as it is encoded; nothing when there are none.
    let observe = |message: &C::Encode, wire_size: usize| {
        if let Some(observers) = info.observers() {
            observers.response(message, wire_size);
        }
    };
    let deadline = info.deadline;
    let mut stream = pin!(stream);
    let mut batch = BytesMut::new();
    let end = loop {
        let next = poll_fn(|cx| stream.as_mut().poll_next(cx));
        let item = match guarded(next, deadline, |cx| body.poll_reset(cx)).await {
            Ok(item) => item,
            Err(interrupted) => match interrupted.into_status() {
                Some(status) => break Err(status),
                None => return info.cancelled(),
            },
        };
        let mut ended = match item {
            Some(Ok(message)) => sender
                .encode_into_observed(codec, &message, &mut batch, observe)
                .err()
                .map(Err),
            Some(Err(status)) => Some(Err(status)),
            None => Some(Ok(())),
        };
        // Messages the handler already has go out in the same write.
        if ended.is_none() {
            let gathered = poll_fn(|cx| {
                Poll::Ready(std::panic::catch_unwind(AssertUnwindSafe(|| {
                    sender.encode_ready(codec, &mut batch, cx, observe, |cx| {
                        stream.as_mut().poll_next(cx)
                    })
                })))
            })
            .await;
            ended = gathered
                .unwrap_or_else(|payload| Interrupted::Panicked(payload).into_status().map(Err));
        }
        if !batch.is_empty() {
            let frame = batch.split().freeze();
            let sent = async {
                body.ready(frame.len()).await?;
                body.send_now(frame, false)
            };
            let sent = match deadline {
                Some(d) => tokio::time::timeout_at(d.into(), sent)
                    .await
                    .unwrap_or_else(|_| Err(Status::deadline_exceeded("deadline exceeded"))),
                None => sent.await,
            };
            if let Err(status) = sent {
                if status.code() == Code::DeadlineExceeded {
                    break Err(status);
                }
                info.cancelled();
                return tracing::debug!(%status, "response stream ended early");
            }
        }
        if let Some(end) = ended {
            break end;
        }
    };
    let trailers = match end {
        Ok(()) => ok_trailers(trailers, info),
        Err(status) => info.trailers(&status, Metadata::new()),
    };
    finish(&mut body, trailers);
}

fn finish(body: &mut SendBody, trailers: HeaderMap) {
    if let Err(e) = body.send_trailers(trailers) {
        tracing::debug!(error = %e, "could not send trailers");
    }
}

/// What phase one of a call (read the request, run the handler) ended with.
type Outcome<T> = Result<Result<Response<T>, Status>, Interrupted>;

fn answer_unary<C: Codec>(
    respond: &mut Responder,
    codec: &C,
    outcome: Outcome<C::Encode>,
    info: &CallInfo,
) {
    match outcome {
        Ok(Ok(response)) => send_unary(respond, codec, response, info),
        Ok(Err(status)) => send_trailers_only(respond, &status, info.observers()),
        Err(interrupted) => match interrupted.into_status() {
            Some(status) => send_trailers_only(respond, &status, info.observers()),
            None => info.cancelled(),
        },
    }
}

async fn answer_stream<C, S>(
    respond: &mut Responder,
    codec: &C,
    outcome: Outcome<S>,
    info: &CallInfo,
) where
    C: Codec,
    S: Stream<Item = Result<C::Encode, Status>>,
{
    match outcome {
        Ok(Ok(response)) => send_stream(respond, codec, response, info).await,
        Ok(Err(status)) => send_trailers_only(respond, &status, info.observers()),
        Err(interrupted) => match interrupted.into_status() {
            Some(status) => send_trailers_only(respond, &status, info.observers()),
            None => info.cancelled(),
        },
    }
}

const UNARY_REQUEST: &str = "request message for a unary request";

/// Serves a unary call: one request message, one response message.
pub async fn unary<C, F, Fut>(call: ServerCall, codec: C, handler: F)
where
    C: Codec,
    F: FnOnce(Request<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, Status>>,
{
    let (head, mut body, mut respond, info) = call.into_parts();
    let handle = async {
        let received = info.receive.read_one(&mut body, UNARY_REQUEST).await?;
        let received =
            received.ok_or_else(|| Status::internal(format!("received no {UNARY_REQUEST}")))?;
        let message = codec.decode(received.payload)?;
        info.observe_request(&message, received.wire_size);
        handler(info.request(head, message, received.compressed)).await
    };
    let outcome = guarded(handle, info.deadline, |cx| respond.poll_reset(cx)).await;
    answer_unary(&mut respond, &codec, outcome, &info);
}

/// Serves a server-streaming call: one request message, a stream of responses.
pub async fn server_streaming<C, S, F, Fut>(call: ServerCall, codec: C, handler: F)
where
    C: Codec,
    S: Stream<Item = Result<C::Encode, Status>>,
    F: FnOnce(Request<C::Decode>) -> Fut,
    Fut: Future<Output = Result<Response<S>, Status>>,
{
    let (head, mut body, mut respond, info) = call.into_parts();
    let handle = async {
        let received = info.receive.read_one(&mut body, UNARY_REQUEST).await?;
        let received =
            received.ok_or_else(|| Status::internal(format!("received no {UNARY_REQUEST}")))?;
        let message = codec.decode(received.payload)?;
        info.observe_request(&message, received.wire_size);
        handler(info.request(head, message, received.compressed)).await
    };
    let outcome = guarded(handle, info.deadline, |cx| respond.poll_reset(cx)).await;
    answer_stream(&mut respond, &codec, outcome, &info).await;
}

/// Serves a client-streaming call: a stream of requests, one response message.
pub async fn client_streaming<C, F, Fut>(call: ServerCall, codec: C, handler: F)
where
    C: Codec,
    F: FnOnce(Request<Streaming<C::Decode>>) -> Fut,
    Fut: Future<Output = Result<Response<C::Encode>, Status>>,
{
    let (head, body, mut respond, info) = call.into_parts();
    let requests = Streaming::new_server(body, info.receive, stream_decoder(&codec))
        .with_observers(info.observers.clone());
    let handle = handler(info.request(head, requests, false));
    let outcome = guarded(handle, info.deadline, |cx| respond.poll_reset(cx)).await;
    answer_unary(&mut respond, &codec, outcome, &info);
}

/// Serves a bidirectional-streaming call: a stream each way, both open at once.
pub async fn streaming<C, S, F, Fut>(call: ServerCall, codec: C, handler: F)
where
    C: Codec,
    S: Stream<Item = Result<C::Encode, Status>>,
    F: FnOnce(Request<Streaming<C::Decode>>) -> Fut,
    Fut: Future<Output = Result<Response<S>, Status>>,
{
    let (head, body, mut respond, info) = call.into_parts();
    let requests = Streaming::new_server(body, info.receive, stream_decoder(&codec))
        .with_observers(info.observers.clone());
    let handle = handler(info.request(head, requests, false));
    let outcome = guarded(handle, info.deadline, |cx| respond.poll_reset(cx)).await;
    answer_stream(&mut respond, &codec, outcome, &info).await;
}
