//! The client: a [`Channel`] to a server, and the call machinery that generated clients use for
//! each of gRPC's four method shapes.
//!
//! Each outgoing message is encoded once into shared bytes, so a call could be sent again (for
//! retries or hedging) without asking the user's message type for `Clone`.

mod backoff;
pub(crate) mod balancer;
mod channel;
mod replay;
mod resolver;
mod retry;
pub mod service_config;
mod subchannel;
pub mod target;

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use http::header::{CONTENT_TYPE, USER_AGENT as USER_AGENT_NAME};
use http::uri::{PathAndQuery, Uri};
use http::{HeaderMap, Method, StatusCode};
use tokio::sync::oneshot;

pub use backoff::BackoffConfig;
pub use balancer::{ConnectivityState, LoadBalancing};
pub use channel::{Channel, ChannelBuilder};
pub use resolver::{Address, DnsResolver, ResolveError, ResolveFuture, Resolver, StaticResolver};
pub use service_config::{MethodConfig, ServiceConfig, ServiceConfigError};

use crate::codec::Codec;
use crate::credentials::{CallInfo, Credentials};
use crate::error::Error;
use crate::interceptor::chain::Observers;
use crate::interceptor::OutgoingCall;
use crate::message::{stream_decoder, ReceiveMessages, SendMessages};
use crate::metadata::Metadata;
use crate::protocol::compression::{accept_encoding, CompressionEncoding, StreamEncoding};
use crate::protocol::frame::HEADER_LEN;
use crate::protocol::headers::{
    code_for_http_status, is_grpc_content_type, read_status, CONTENT_TYPE_GRPC,
    GRPC_ACCEPT_ENCODING, GRPC_ENCODING, GRPC_STATUS, GRPC_TIMEOUT, TE, TRAILERS, USER_AGENT,
};
use crate::protocol::timeout;
use crate::request::{Compression, Outgoing, Request, Response};
use crate::status::{Code, Status};
use crate::streaming::{Canceller, Streaming};
use crate::transport::client::StartError;
use crate::transport::{RecvBody, SendBody};

/// Calls methods on a channel. Generated clients wrap one; it is cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    channel: Channel,
    max_decoding_message_size: usize,
    max_encoding_message_size: usize,
    send_compression: Option<CompressionEncoding>,
}

impl Client {
    /// A client on this channel, with gRPC's default limits (4 MiB received, unlimited sent).
    pub fn new(channel: Channel) -> Client {
        Client {
            channel,
            max_decoding_message_size: 4 * 1024 * 1024,
            max_encoding_message_size: usize::MAX,
            send_compression: None,
        }
    }

    /// Connects a channel to `target` and makes a client on it.
    pub async fn connect(target: &str) -> Result<Client, Error> {
        Ok(Client::new(Channel::connect(target).await?))
    }

    /// The largest response message accepted; larger ones end the call with `RESOURCE_EXHAUSTED`.
    pub fn max_decoding_message_size(mut self, limit: usize) -> Client {
        self.max_decoding_message_size = limit;
        self
    }

    /// The largest request message sent; larger ones end the call with `RESOURCE_EXHAUSTED`.
    pub fn max_encoding_message_size(mut self, limit: usize) -> Client {
        self.max_encoding_message_size = limit;
        self
    }

    /// Compresses request messages with `encoding` (default: none). The server must support
    /// it; every gRPC implementation supports gzip. A call can choose its own with
    /// [`Request::set_send_compression`].
    pub fn send_compressed(mut self, encoding: CompressionEncoding) -> Client {
        self.send_compression = Some(encoding);
        self
    }

    fn sender(&self, compression: Compression, limit: usize) -> SendMessages {
        SendMessages {
            limit,
            compression: compression.send.or(self.send_compression),
            switch: compression.switch,
        }
    }

    /// The call's metadata with the channel's and the call's credentials added. Costs nothing
    /// when there are none.
    async fn call_metadata(
        &self,
        path: &PathAndQuery,
        mut metadata: Metadata,
        call: Option<Credentials>,
    ) -> Result<Metadata, Status> {
        let channel = self.channel.credentials();
        if channel.is_none() && call.is_none() {
            return Ok(metadata);
        }
        let info = CallInfo::new(
            path.clone(),
            self.channel.authority().clone(),
            self.channel.is_secure(),
        );
        for credentials in channel.into_iter().chain(call.as_ref()) {
            credentials.apply(info.clone(), &mut metadata).await?;
        }
        Ok(metadata)
    }

    /// What the channel's service config says for this call, merged with the client's and the
    /// call's own settings: the shorter timeout, the smaller limits, and the call's own
    /// wait-for-ready if it set one.
    fn settings(
        &self,
        path: &PathAndQuery,
        timeout: &mut Option<Duration>,
        wait_for_ready: Option<bool>,
    ) -> CallSettings<'_> {
        let mut settings = CallSettings {
            wait_for_ready: wait_for_ready.unwrap_or(false),
            send_limit: self.max_encoding_message_size,
            receive_limit: self.max_decoding_message_size,
            policy: None,
        };
        let Some(config) = self
            .channel
            .service_config()
            .and_then(|c| c.for_path(path.path()))
        else {
            return settings;
        };
        if let Some(max) = config.timeout {
            *timeout = Some(timeout.map_or(max, |t| t.min(max)));
        }
        if wait_for_ready.is_none() {
            settings.wait_for_ready = config.wait_for_ready.unwrap_or(false);
        }
        if let Some(max) = config.max_request_message_bytes {
            settings.send_limit = settings.send_limit.min(max);
        }
        if let Some(max) = config.max_response_message_bytes {
            settings.receive_limit = settings.receive_limit.min(max);
        }
        settings.policy = config.policy.as_ref();
        settings
    }

    /// Runs the channel's interceptors on the start of a call; their observers, or `None` when
    /// the channel has none.
    async fn intercept(
        &self,
        path: &PathAndQuery,
        metadata: &mut Metadata,
        timeout: &mut Option<Duration>,
        extensions: &http::Extensions,
    ) -> Result<Option<Arc<Observers>>, Status> {
        let chain = self.channel.interceptors();
        if chain.is_empty() {
            return Ok(None);
        }
        let mut call = OutgoingCall {
            target: self.channel.target(),
            path,
            authority: self.channel.authority().as_str(),
            metadata,
            timeout,
            extensions,
        };
        chain.run(&mut call).await.map(Some)
    }

    /// The request head of one attempt at a call; built anew for each attempt, with the time
    /// left before the deadline.
    fn head(
        &self,
        path: &PathAndQuery,
        metadata: &Metadata,
        deadline: Option<Instant>,
        sender: &SendMessages,
    ) -> http::Request<()> {
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.channel.scheme().clone());
        parts.authority = Some(self.channel.authority().clone());
        parts.path_and_query = Some(path.clone());
        let mut head = http::Request::new(());
        *head.method_mut() = Method::POST;
        // Scheme, authority and a path always make a valid URI.
        *head.uri_mut() = Uri::from_parts(parts).unwrap_or_default();
        let mut headers = HeaderMap::with_capacity(6 + metadata.len());
        metadata.write_to(&mut headers);
        headers.insert(CONTENT_TYPE, CONTENT_TYPE_GRPC);
        headers.insert(TE, TRAILERS);
        headers.insert(USER_AGENT_NAME, USER_AGENT);
        headers.insert(GRPC_ACCEPT_ENCODING, accept_encoding());
        if let Some(encoding) = sender.compression {
            headers.insert(
                GRPC_ENCODING,
                http::HeaderValue::from_static(encoding.name()),
            );
        }
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Ok(value) = http::HeaderValue::from_str(&timeout::format(left)) {
                headers.insert(GRPC_TIMEOUT, value);
            }
        }
        *head.headers_mut() = headers;
        head
    }

    /// Calls a unary method.
    pub async fn unary<C: Codec>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status> {
        let Outgoing {
            mut metadata,
            message,
            mut timeout,
            compression,
            credentials,
            extensions,
            wait_for_ready,
        } = request.into_outgoing();
        let observers = self
            .intercept(&path, &mut metadata, &mut timeout, &extensions)
            .await?;
        let observers = observers.as_deref();
        let settings = self.settings(&path, &mut timeout, wait_for_ready);
        let sender = self.sender(compression, settings.send_limit);
        let body = match sender.encode(&codec, &message) {
            Ok(body) => body,
            Err(status) => return Err(finish_failed(observers, status)),
        };
        if let Some(observers) = observers {
            observers.request(&message, body.len() - HEADER_LEN);
        }
        drop(message);
        let deadline = timeout.map(|t| Instant::now() + t);
        let result = with_deadline(timeout, async {
            let metadata = self.call_metadata(&path, metadata, credentials).await?;
            let (head, _) = self
                .start_replayable(&path, &metadata, deadline, &sender, body, &settings)
                .await?;
            read_unary(head, &codec, observers).await
        })
        .await;
        finish_unary(observers, result)
    }

    /// Sends a call whose whole request is in `body`, and waits for the response head. A stream
    /// the server refused unprocessed (REFUSED_STREAM, as when calls outrun the server's stream
    /// limit on a new connection) is sent again: the encoded request is shared bytes, so a
    /// replay costs no copy and needs nothing of the user's message type.
    async fn send_replayable(
        &self,
        path: &PathAndQuery,
        metadata: &Metadata,
        deadline: Option<Instant>,
        sender: &SendMessages,
        body: Bytes,
        settings: &CallSettings<'_>,
    ) -> Result<(http::response::Parts, RecvBody, SendBody), Status> {
        let wait_for_ready = settings.wait_for_ready;
        const MAX_ATTEMPTS: u32 = 5;
        let mut attempt = 1;
        loop {
            let head = self.head(path, metadata, deadline, sender);
            let (pending, mut send) = self.channel.start(head, wait_for_ready).await?;
            if let Err(status) = send.send_now(body.clone(), true) {
                // The server may have answered and closed the stream before the request went
                // out (a Trailers-Only rejection of an unknown method, say): that answer is the
                // call's outcome, not the failed send. The stream is over, so the head (or its
                // error) is there or about to be: wait for it rather than look once, which lost
                // the race now and then under load; bounded in case the connection hangs.
                let answer = tokio::time::timeout(ANSWER_AFTER_FAILED_SEND, pending.head()).await;
                return match answer {
                    Ok(Ok((head, recv))) => Ok((head, recv, send)),
                    _ => Err(status),
                };
            }
            match pending.head().await {
                Ok((head, recv)) => return Ok((head, recv, send)),
                Err(StartError::Refused(status)) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!(%status, attempt, "stream refused unprocessed; sending again");
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Calls a server-streaming method: the response messages arrive on the returned stream.
    pub async fn server_streaming<C: Codec>(
        &self,
        path: PathAndQuery,
        request: Request<C::Encode>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status> {
        let Outgoing {
            mut metadata,
            message,
            mut timeout,
            compression,
            credentials,
            extensions,
            wait_for_ready,
        } = request.into_outgoing();
        let observers = self
            .intercept(&path, &mut metadata, &mut timeout, &extensions)
            .await?;
        let settings = self.settings(&path, &mut timeout, wait_for_ready);
        let sender = self.sender(compression, settings.send_limit);
        let body = match sender.encode(&codec, &message) {
            Ok(body) => body,
            Err(status) => return Err(finish_failed(observers.as_deref(), status)),
        };
        if let Some(observers) = &observers {
            observers.request(&message, body.len() - HEADER_LEN);
        }
        drop(message);
        let deadline = timeout.map(|t| Instant::now() + t);
        let result = with_deadline(timeout, async {
            let metadata = self.call_metadata(&path, metadata, credentials).await?;
            let (head, send) = self
                .start_replayable(&path, &metadata, deadline, &sender, body, &settings)
                .await?;
            Ok(self.stream(
                head,
                &codec,
                Canceller::Stream(send),
                deadline.map(Into::into),
                observers.clone(),
            ))
        })
        .await;
        result.map_err(|status| finish_failed(observers.as_deref(), status))
    }

    /// Calls a client-streaming method: the request messages are taken from `request`'s stream.
    pub async fn client_streaming<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<C::Decode>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let Outgoing {
            mut metadata,
            message: messages,
            mut timeout,
            compression,
            credentials,
            extensions,
            wait_for_ready,
        } = request.into_outgoing();
        let observers = self
            .intercept(&path, &mut metadata, &mut timeout, &extensions)
            .await?;
        let settings = self.settings(&path, &mut timeout, wait_for_ready);
        let sender = self.sender(compression, settings.send_limit);
        let deadline = timeout.map(|t| Instant::now() + t);
        let result = with_deadline(timeout, async {
            let metadata = self.call_metadata(&path, metadata, credentials).await?;
            if let Some(service_config::CallPolicy::Retry(policy)) = settings.policy {
                let head = retry::AttemptHead {
                    path: &path,
                    metadata: &metadata,
                    deadline,
                    sender: &sender,
                };
                return self
                    .client_streaming_with_retries(
                        head,
                        messages,
                        &codec,
                        &settings,
                        policy,
                        observers.as_ref(),
                    )
                    .await;
            }
            let head = self.head(&path, &metadata, deadline, &sender);
            let (pending, send) = self.channel.start(head, settings.wait_for_ready).await?;
            let _guard = spawn_sender(send, messages, codec.clone(), sender, observers.clone());
            let (head, recv) = pending.head().await?;
            read_unary(
                check_head(head, recv, settings.receive_limit)?,
                &codec,
                observers.as_deref(),
            )
            .await
        })
        .await;
        finish_unary(observers.as_deref(), result)
    }

    /// Calls a bidirectional-streaming method: requests are taken from `request`'s stream while
    /// responses arrive on the returned one. Returns once the call is open, without waiting for
    /// the server's response headers: they come with the stream
    /// ([`Streaming::headers`]), and the returned `Response` carries no metadata.
    pub async fn streaming<C, S>(
        &self,
        path: PathAndQuery,
        request: Request<S>,
        codec: C,
    ) -> Result<Response<Streaming<C::Decode>>, Status>
    where
        C: Codec,
        S: Stream<Item = C::Encode> + Send + 'static,
    {
        let Outgoing {
            mut metadata,
            message: messages,
            mut timeout,
            compression,
            credentials,
            extensions,
            wait_for_ready,
        } = request.into_outgoing();
        let observers = self
            .intercept(&path, &mut metadata, &mut timeout, &extensions)
            .await?;
        let settings = self.settings(&path, &mut timeout, wait_for_ready);
        let sender = self.sender(compression, settings.send_limit);
        let deadline = timeout.map(|t| Instant::now() + t);
        // Returns as soon as the stream is open: a server may hold its response headers until
        // it has a first request to answer, and the caller may be waiting to send it.
        let (pending, send) = with_deadline(timeout, async {
            let metadata = self.call_metadata(&path, metadata, credentials).await?;
            let head = self.head(&path, &metadata, deadline, &sender);
            self.channel.start(head, settings.wait_for_ready).await
        })
        .await
        .map_err(|status| finish_failed(observers.as_deref(), status))?;
        let guard = spawn_sender(send, messages, codec.clone(), sender, observers.clone());
        let limit = settings.receive_limit;
        let stream = Streaming::awaiting_head(pending, limit, stream_decoder(&codec))
            .with_canceller(Canceller::Guard(guard))
            .with_deadline(deadline.map(Into::into))
            .with_observers(observers);
        Ok(Response::new(stream))
    }

    /// A response stream from a response head.
    fn stream<C: Codec>(
        &self,
        head: ResponseHead,
        codec: &C,
        canceller: Canceller,
        deadline: Option<tokio::time::Instant>,
        observers: Option<Arc<Observers>>,
    ) -> Response<Streaming<C::Decode>> {
        let decode = stream_decoder(codec);
        let (metadata, stream) = match head {
            ResponseHead::Messages {
                metadata,
                recv,
                receive,
            } => {
                if let Some(observers) = &observers {
                    observers.response_headers(&metadata);
                }
                let stream = Streaming::new_client(recv, receive, decode)
                    .with_canceller(canceller)
                    .with_deadline(deadline)
                    .with_observers(observers);
                (metadata, stream)
            }
            // An OK Trailers-Only response is an empty stream.
            ResponseHead::TrailersOnly { recv, status } => {
                let receive = ReceiveMessages {
                    limit: self.max_decoding_message_size,
                    encoding: None,
                };
                let mut trailers = status.into_metadata();
                if let Some(observers) = &observers {
                    observers.finish(&Status::new(Code::Ok, ""), &mut trailers);
                }
                let stream = Streaming::new_client(recv, receive, decode).ended(trailers.clone());
                (trailers, stream)
            }
        };
        Response::from_parts(metadata, stream, Metadata::new())
    }
}

/// Checks a response head: a non-200 HTTP status or a Trailers-Only response ends the call
/// here; otherwise gives the response metadata and how to read its messages.
pub(crate) fn check_head(
    head: http::response::Parts,
    recv: RecvBody,
    limit: usize,
) -> Result<ResponseHead, Status> {
    if head.status != StatusCode::OK {
        return Err(Status::new(
            code_for_http_status(head.status),
            format!("server answered with HTTP status {}", head.status),
        ));
    }
    if head.headers.contains_key(GRPC_STATUS) {
        // Trailers-Only: the status came in the headers; there is no body.
        return match read_status(head.headers) {
            Some(status) if status.code() == Code::Ok => {
                Ok(ResponseHead::TrailersOnly { recv, status })
            }
            Some(status) => Err(status),
            None => Err(Status::internal("server sent no grpc-status")),
        };
    }
    let grpc = head
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(is_grpc_content_type);
    if !grpc {
        return Err(Status::unknown(format!(
            "server answered with content-type {:?}, not application/grpc",
            head.headers.get(CONTENT_TYPE)
        )));
    }
    let encoding = match StreamEncoding::from_header(head.headers.get(GRPC_ENCODING)) {
        StreamEncoding::Unsupported(name) => {
            return Err(Status::internal(format!(
                "server compressed its response with {name:?}, which this client cannot decode"
            )))
        }
        encoding => encoding.encoding(),
    };
    let receive = ReceiveMessages { limit, encoding };
    Ok(ResponseHead::Messages {
        metadata: Metadata::from_headers(head.headers),
        recv,
        receive,
    })
}

/// What a response's headers said.
pub(crate) enum ResponseHead {
    /// Messages follow, then trailers.
    Messages {
        metadata: Metadata,
        recv: RecvBody,
        receive: ReceiveMessages,
    },
    /// The call ended OK with no messages (a Trailers-Only response).
    TrailersOnly { recv: RecvBody, status: Status },
}

/// Sends the request stream's messages from a task of their own, so that sending and receiving
/// proceed at once. Dropping the returned guard (the call was abandoned) resets the stream with
/// CANCEL.
fn spawn_sender<C, S>(
    mut send: SendBody,
    messages: S,
    codec: C,
    sender: SendMessages,
    observers: Option<Arc<Observers>>,
) -> oneshot::Sender<()>
where
    C: Codec,
    S: Stream<Item = C::Encode> + Send + 'static,
{
    let (guard, mut abandoned) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut messages = pin!(messages);
        let mut batch = BytesMut::new();
        let observe = |message: &C::Encode, wire_size: usize| {
            if let Some(observers) = &observers {
                observers.request(message, wire_size);
            }
        };
        loop {
            let next = tokio::select! {
                next = poll_fn(|cx| messages.as_mut().poll_next(cx)) => next,
                _ = &mut abandoned => return send.cancel(),
            };
            let Some(message) = next else { break };
            let mut ended = sender
                .encode_into_observed(&codec, &message, &mut batch, observe)
                .err()
                .map(Err);
            // Messages the stream already has go out in the same write.
            if ended.is_none() {
                ended = poll_fn(|cx| {
                    Poll::Ready(sender.encode_ready(&codec, &mut batch, cx, observe, |cx| {
                        messages.as_mut().poll_next(cx).map(|next| next.map(Ok))
                    }))
                })
                .await;
            }
            if let Some(Err(status)) = &ended {
                tracing::debug!(%status, "request message not sent; cancelling the call");
                return send.cancel();
            }
            let frame = batch.split().freeze();
            let sent = tokio::select! {
                sent = send.ready(frame.len()) => sent,
                _ = &mut abandoned => return send.cancel(),
            };
            // The stream's last batch carries END_STREAM itself.
            let last = ended.is_some();
            if sent.and_then(|()| send.send_now(frame, last)).is_err() || last {
                return; // When not last, the stream is gone; the response side reports why.
            }
        }
        let _ = send.send_now(Bytes::new(), true);
    });
    guard
}

async fn with_deadline<T>(
    timeout: Option<Duration>,
    call: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let Some(timeout) = timeout else {
        return call.await;
    };
    let deadline = tokio::time::Instant::now() + timeout;
    match tokio::time::timeout_at(deadline, call).await {
        Ok(Err(status)) => Err(past_deadline(status, Some(deadline))),
        Ok(ok) => ok,
        Err(_) => Err(Status::deadline_exceeded("deadline exceeded")),
    }
}

/// A call that failed once its deadline had passed failed because of it, however the failure
/// arrived: a server whose own deadline fires first may just reset the stream (grpc-go sends
/// RST_STREAM CANCEL), which would otherwise read as CANCELLED.
pub(crate) fn past_deadline(status: Status, deadline: Option<tokio::time::Instant>) -> Status {
    match deadline {
        Some(deadline)
            if tokio::time::Instant::now() >= deadline
                && status.code() != Code::DeadlineExceeded =>
        {
            Status::deadline_exceeded(format!("deadline exceeded ({status})"))
        }
        _ => status,
    }
}

/// Reads the single response message and the trailers with the call's status.
async fn read_unary<C: Codec>(
    head: ResponseHead,
    codec: &C,
    observers: Option<&Observers>,
) -> Result<Response<C::Decode>, Status> {
    let (metadata, mut recv, receive) = match head {
        ResponseHead::Messages {
            metadata,
            recv,
            receive,
        } => (metadata, recv, receive),
        ResponseHead::TrailersOnly { .. } => {
            return Err(Status::internal("server sent no response message"))
        }
    };
    if let Some(observers) = observers {
        observers.response_headers(&metadata);
    }
    let received = receive
        .read_one(&mut recv, "message for a unary response")
        .await?;
    let trailers = poll_fn(|cx| recv.poll_trailers(cx)).await?;
    let status = trailers.and_then(read_status).unwrap_or_else(|| {
        Status::internal("server closed the stream without sending a grpc-status")
    });
    if status.code() != Code::Ok {
        return Err(status);
    }
    let received = received.ok_or_else(|| Status::internal("server sent no response message"))?;
    let message = codec.decode(received.payload)?;
    if let Some(observers) = observers {
        observers.response(&message, received.wire_size);
    }
    let mut response = Response::from_parts(metadata, message, status.into_metadata());
    response.set_received_compressed(received.compressed);
    Ok(response)
}

/// Tells a call's observers (if any) that it failed before it had a response, and gives the
/// status back.
fn finish_failed(observers: Option<&Observers>, status: Status) -> Status {
    if let Some(observers) = observers {
        observers.finish(&status, &mut status.metadata().clone());
    }
    status
}

/// Tells a unary-response call's observers (if any) how it ended; they may change the trailers
/// the caller sees.
fn finish_unary<T>(
    observers: Option<&Observers>,
    result: Result<Response<T>, Status>,
) -> Result<Response<T>, Status> {
    let Some(observers) = observers else {
        return result;
    };
    match result {
        Ok(mut response) => {
            observers.finish(&Status::new(Code::Ok, ""), response.trailers_mut());
            Ok(response)
        }
        Err(status) => Err(finish_failed(Some(observers), status)),
    }
}

/// How long a call whose request could not be sent waits for the answer the server may have
/// sent already.
const ANSWER_AFTER_FAILED_SEND: Duration = Duration::from_secs(5);

/// One call's settings, from the client, the call and the channel's service config.
struct CallSettings<'a> {
    wait_for_ready: bool,
    send_limit: usize,
    receive_limit: usize,
    /// The method's retry or hedging policy (unary and server-streaming calls).
    policy: Option<&'a service_config::CallPolicy>,
}
