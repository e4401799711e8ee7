//! The client side of the transport: one HTTP/2 connection over any byte stream, on which each
//! call opens a stream, and the task that drives it (and keeps it alive with PINGs).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::first_bytes::{FirstBytes, Recorded};
use super::{status_from_h2, Driver, Http2Settings, Pinger, RecvBody, SendBody};
use crate::status::Status;

/// A handle to an open client connection; cloned for each call, all multiplexed on it.
#[derive(Clone, Debug)]
pub(crate) struct ClientConnection {
    send: h2::client::SendRequest<Bytes>,
}

/// A connection that has room for one more stream.
#[derive(Debug)]
pub(crate) struct ReadyConnection {
    send: h2::client::SendRequest<Bytes>,
}

/// The response to a stream this side opened: its head arrives later.
#[derive(Debug)]
pub(crate) struct PendingResponse {
    inner: h2::client::ResponseFuture,
}

/// Why a stream got no response head.
#[derive(Debug)]
pub(crate) enum StartError {
    /// The server refused the stream without processing it: safe to send again.
    Refused(Status),
    /// Anything else.
    Failed(Status),
}

impl From<StartError> for Status {
    fn from(e: StartError) -> Status {
        match e {
            StartError::Refused(status) | StartError::Failed(status) => status,
        }
    }
}

/// PINGs to send on an idle link, and how long to wait for each answer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Keepalive {
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
}

impl ClientConnection {
    /// Performs the HTTP/2 handshake. The returned future drives the connection's IO and must be
    /// spawned; it ends when the connection closes, or when a keepalive PING goes unanswered.
    /// The connection is not known to work until [`FirstBytes::first_frame`] has seen the
    /// server's SETTINGS.
    #[allow(clippy::type_complexity)]
    pub(crate) async fn handshake<IO>(
        io: IO,
        settings: &Http2Settings,
        keepalive: Option<Keepalive>,
    ) -> Result<
        (
            ClientConnection,
            impl Future<Output = Result<(), Status>>,
            std::sync::Arc<FirstBytes>,
        ),
        Status,
    >
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut builder = h2::client::Builder::new();
        builder
            .initial_window_size(settings.initial_stream_window)
            .initial_connection_window_size(settings.initial_connection_window)
            .max_frame_size(settings.max_frame_size)
            .max_header_list_size(settings.max_header_list_size)
            // The client never accepts pushes; gRPC has none.
            .enable_push(false);
        let (io, first) = Recorded::new(io);
        let (io, mut driver) = Driver::new(io);
        let (send, mut connection) = builder.handshake(io).await.map_err(status_from_h2)?;
        let pinger = keepalive.and_then(|k| Some((k, Pinger::new(connection.ping_pong()?))));
        let driver = async move {
            let mut connection = pin!(connection);
            let connection = poll_fn(move |cx| driver.poll(cx, |cx| connection.as_mut().poll(cx)));
            let mut connection = pin!(connection);
            let Some((keepalive, mut pinger)) = pinger else {
                return connection.await.map_err(status_from_h2);
            };
            loop {
                tokio::select! {
                    done = &mut connection => return done.map_err(status_from_h2),
                    () = tokio::time::sleep(keepalive.interval) => {}
                }
                pinger.send()?;
                tokio::select! {
                    done = &mut connection => return done.map_err(status_from_h2),
                    pong = poll_fn(|cx| pinger.poll_pong(cx)) => pong?,
                    () = tokio::time::sleep(keepalive.timeout) => {
                        return Err(Status::unavailable("keepalive PING not answered in time"));
                    }
                }
            }
        };
        Ok((ClientConnection { send }, driver, first))
    }

    /// Waits for room for one more stream; fails if the connection is closed or going away.
    pub(crate) async fn ready(&self) -> Result<ReadyConnection, Status> {
        let send = self.send.clone().ready().await.map_err(status_from_h2)?;
        Ok(ReadyConnection { send })
    }
}

impl ReadyConnection {
    /// Opens a stream with this request head; its body follows on the returned sender.
    pub(crate) fn start(
        mut self,
        head: http::Request<()>,
    ) -> Result<(PendingResponse, SendBody), Status> {
        let (response, body) = self
            .send
            .send_request(head, false)
            .map_err(status_from_h2)?;
        Ok((PendingResponse { inner: response }, SendBody::new(body)))
    }
}

impl PendingResponse {
    pub(crate) fn poll_head(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(http::response::Parts, RecvBody), Status>> {
        std::pin::Pin::new(&mut self.inner).poll(cx).map(|result| {
            let response = result.map_err(status_from_h2)?;
            let (head, body) = response.into_parts();
            Ok((head, RecvBody::new(body)))
        })
    }

    /// The response head; `Refused` when the server refused the stream before processing it
    /// (REFUSED_STREAM), which makes the call safe to send again.
    pub(crate) async fn head(self) -> Result<(http::response::Parts, RecvBody), StartError> {
        let response = self.inner.await.map_err(|e| {
            if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
                StartError::Refused(status_from_h2(e))
            } else {
                StartError::Failed(status_from_h2(e))
            }
        })?;
        let (head, body) = response.into_parts();
        Ok((head, RecvBody::new(body)))
    }
}
