//! `Streaming<T>`: the messages of a stream as they arrive, decoded one at a time, on either side.
//! On the client it also reads the trailers at the end and turns a failing status into an error.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::Stream;

use crate::client::{check_head, past_deadline, ResponseHead};
use crate::interceptor::chain::Observers;
use crate::message::{frame_error_status, ReceiveMessages};
use crate::metadata::Metadata;
use crate::protocol::frame::FrameDecoder;
use crate::protocol::headers::read_status;
use crate::status::{Code, Status};
use crate::transport::client::PendingResponse;
use crate::transport::{RecvBody, SendBody};

/// How a client-side stream cancels its call.
#[derive(Debug)]
pub(crate) enum Canceller {
    /// The sending half, kept after the request was sent, to reset the stream.
    Stream(SendBody),
    /// Dropped to tell the task sending the request stream to reset it.
    Guard(#[allow(dead_code)] tokio::sync::oneshot::Sender<()>),
}

type DecodeFn<T> = Box<dyn Fn(Bytes) -> Result<T, Status> + Send + Sync>;

/// A stream of incoming messages.
///
/// ```no_run
/// # async fn f(mut stream: tern::Streaming<String>) -> Result<(), tern::Status> {
/// while let Some(message) = stream.message().await? {
///     println!("{message}");
/// }
/// # Ok(()) }
/// ```
pub struct Streaming<T> {
    /// None only while a client call waits for its response head.
    body: Option<RecvBody>,
    /// On a client bidi call: the response head, awaited on the first poll, so the call returns
    /// before the server has answered (servers may wait for a first request before answering).
    pending: Option<(PendingResponse, usize)>,
    headers: Option<Metadata>,
    decoder: FrameDecoder,
    receive: ReceiveMessages,
    last_compressed: bool,
    decode: DecodeFn<T>,
    role: Role,
    state: State,
    trailers: Option<Metadata>,
    /// On the client: what cancels the call when the stream is abandoned or its deadline passes.
    canceller: Option<Canceller>,
    /// On the client: the call's deadline, which bounds the whole stream, not only its start.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The call's interceptors' observers, and how to tell them of a message of this type.
    observers: Option<(Arc<Observers>, ObserveFn<T>)>,
}

/// Tells observers of one received message (a request on the server, a response on the client).
type ObserveFn<T> = fn(&Observers, &T, usize);

fn observe_request<T: Any + Send>(observers: &Observers, message: &T, wire_size: usize) {
    observers.request(message, wire_size);
}

fn observe_response<T: Any + Send>(observers: &Observers, message: &T, wire_size: usize) {
    observers.response(message, wire_size);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Server side: the stream ends with the client's END_STREAM.
    Server,
    /// Client side: the stream ends with trailers carrying the call's status.
    Client,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Messages,
    Trailers,
    Done,
}

impl<T> fmt::Debug for Streaming<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Streaming").finish_non_exhaustive()
    }
}

impl<T> Streaming<T> {
    pub(crate) fn new_server(
        body: RecvBody,
        receive: ReceiveMessages,
        decode: DecodeFn<T>,
    ) -> Streaming<T> {
        Streaming::new(body, receive, decode, Role::Server)
    }

    pub(crate) fn new_client(
        body: RecvBody,
        receive: ReceiveMessages,
        decode: DecodeFn<T>,
    ) -> Streaming<T> {
        Streaming::new(body, receive, decode, Role::Client)
    }

    fn new(
        body: RecvBody,
        receive: ReceiveMessages,
        decode: DecodeFn<T>,
        role: Role,
    ) -> Streaming<T> {
        Streaming {
            body: Some(body),
            pending: None,
            headers: None,
            decoder: receive.decoder(),
            receive,
            last_compressed: false,
            decode,
            role,
            state: State::Messages,
            trailers: None,
            canceller: None,
            deadline: None,
            observers: None,
        }
    }

    pub(crate) fn with_deadline(mut self, deadline: Option<tokio::time::Instant>) -> Streaming<T> {
        self.deadline = deadline.map(|d| Box::pin(tokio::time::sleep_until(d)));
        self
    }

    /// A client stream whose response head has not arrived yet.
    pub(crate) fn awaiting_head(
        pending: PendingResponse,
        limit: usize,
        decode: DecodeFn<T>,
    ) -> Streaming<T> {
        let receive = ReceiveMessages {
            limit,
            encoding: None,
        };
        Streaming {
            body: None,
            pending: Some((pending, limit)),
            headers: None,
            decoder: receive.decoder(),
            receive,
            last_compressed: false,
            decode,
            role: Role::Client,
            state: State::Head,
            trailers: None,
            canceller: None,
            deadline: None,
            observers: None,
        }
    }

    /// On a client streaming call: the response headers (initial metadata), once they have
    /// arrived; they have by the time the first message or the end of the stream is returned.
    pub fn headers(&self) -> Option<&Metadata> {
        self.headers.as_ref()
    }

    /// Waits for the response head and sets the stream up from it.
    fn poll_head(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let Some((pending, limit)) = self.pending.as_mut() else {
            return Poll::Ready(Err(Status::internal("response head already taken")));
        };
        let limit = *limit;
        let (head, recv) = ready!(pending.poll_head(cx))?;
        self.pending = None;
        match check_head(head, recv, limit)? {
            ResponseHead::Messages {
                metadata,
                recv,
                receive,
            } => {
                self.body = Some(recv);
                self.receive = receive;
                self.decoder = receive.decoder();
                if let Some((observers, _)) = &self.observers {
                    observers.response_headers(&metadata);
                }
                self.headers = Some(metadata);
                self.state = State::Messages;
            }
            ResponseHead::TrailersOnly { status, .. } => {
                let trailers = status.into_metadata();
                self.headers = Some(trailers.clone());
                self.trailers = Some(trailers);
                self.state = State::Done;
                self.finish(&Status::new(Code::Ok, ""));
            }
        }
        Poll::Ready(Ok(()))
    }

    /// A stream that has already ended cleanly, with these trailers.
    pub(crate) fn ended(mut self, trailers: Metadata) -> Streaming<T> {
        self.state = State::Done;
        self.trailers = Some(trailers);
        self
    }

    pub(crate) fn with_canceller(mut self, canceller: Canceller) -> Streaming<T> {
        self.canceller = Some(canceller);
        self
    }

    /// The next message; `Ok(None)` once the stream has ended cleanly.
    pub async fn message(&mut self) -> Result<Option<T>, Status> {
        std::future::poll_fn(|cx| self.poll_message(cx))
            .await
            .transpose()
    }

    /// Whether the message last returned arrived compressed.
    pub fn was_compressed(&self) -> bool {
        self.last_compressed
    }

    /// On the client, once the stream has ended: the trailing metadata the server sent.
    pub fn trailers(&self) -> Option<&Metadata> {
        self.trailers.as_ref()
    }

    fn fail(&mut self, status: Status) -> Poll<Option<Result<T, Status>>> {
        self.state = State::Done;
        let status = match &self.deadline {
            Some(deadline) => past_deadline(status, Some(deadline.deadline())),
            None => status,
        };
        self.finish(&status);
        Poll::Ready(Some(Err(status)))
    }

    /// On the client: tells the observers how the call ended (on the server, the response side
    /// does).
    fn finish(&mut self, status: &Status) {
        if self.role == Role::Client {
            if let Some((observers, _)) = &self.observers {
                let mut trailers = self.trailers.clone().unwrap_or_default();
                observers.finish(status, &mut trailers);
            }
        }
    }

    fn poll_message(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let poll = self.poll_stream(cx);
        if poll.is_pending() {
            if let Some(deadline) = &mut self.deadline {
                if deadline.as_mut().poll(cx).is_ready() {
                    if let Some(Canceller::Stream(send)) = &mut self.canceller {
                        send.cancel();
                    }
                    // Dropping the guard makes the request sender reset the stream.
                    self.canceller = None;
                    return self.fail(Status::deadline_exceeded("deadline exceeded"));
                }
            }
        }
        poll
    }

    fn poll_stream(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        loop {
            match self.state {
                State::Head => match ready!(self.poll_head(cx)) {
                    Ok(()) => continue,
                    Err(status) => return self.fail(status),
                },
                State::Done => return Poll::Ready(None),
                State::Trailers => return self.poll_status(cx),
                State::Messages => {}
            }
            match self.decoder.decode() {
                Ok(Some(frame)) => {
                    let received = match self.receive.open(frame) {
                        Ok(received) => received,
                        Err(status) => return self.fail(status),
                    };
                    self.last_compressed = received.compressed;
                    return match (self.decode)(received.payload) {
                        Ok(message) => {
                            if let Some((observers, observe)) = &self.observers {
                                observe(observers, &message, received.wire_size);
                            }
                            Poll::Ready(Some(Ok(message)))
                        }
                        Err(status) => self.fail(status),
                    };
                }
                Ok(None) => {}
                Err(e) => return self.fail(frame_error_status(e)),
            }
            let Some(body) = self.body.as_mut() else {
                return self.fail(Status::internal("stream has no body"));
            };
            match ready!(body.poll_chunk(cx)) {
                Some(Ok(chunk)) => self.decoder.push(chunk),
                Some(Err(status)) => return self.fail(status),
                None => {
                    if let Err(e) = self.decoder.finish() {
                        return self.fail(Status::internal(e.to_string()));
                    }
                    self.state = match self.role {
                        Role::Server => State::Done,
                        Role::Client => State::Trailers,
                    };
                    if self.state == State::Done {
                        self.observers = None;
                    }
                }
            }
        }
    }

    fn poll_status(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, Status>>> {
        let Some(body) = self.body.as_mut() else {
            return self.fail(Status::internal("stream has no body"));
        };
        let trailers = match ready!(body.poll_trailers(cx)) {
            Ok(trailers) => trailers,
            Err(status) => return self.fail(status),
        };
        self.state = State::Done;
        let status = trailers.and_then(read_status).unwrap_or_else(|| {
            Status::internal("server closed the stream without sending a grpc-status")
        });
        if status.code() == Code::Ok {
            self.trailers = Some(status.metadata().clone());
            self.finish(&status);
            Poll::Ready(None)
        } else {
            self.trailers = Some(status.metadata().clone());
            self.finish(&status);
            Poll::Ready(Some(Err(status)))
        }
    }
}

impl<T: Any + Send> Streaming<T> {
    /// Tells these observers (if any) of each message received, and on the client of the
    /// response headers and the call's end.
    pub(crate) fn with_observers(mut self, observers: Option<Arc<Observers>>) -> Streaming<T> {
        let observe = match self.role {
            Role::Server => observe_request::<T> as ObserveFn<T>,
            Role::Client => observe_response::<T>,
        };
        self.observers = observers.map(|o| (o, observe));
        self
    }
}

impl<T> Stream for Streaming<T> {
    type Item = Result<T, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Streaming holds no self-references, so it is Unpin and can be reached through the pin.
        self.get_mut().poll_message(cx)
    }
}
