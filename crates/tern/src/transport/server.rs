//! The server side of the transport: an HTTP/2 connection over any byte stream, yielding
//! incoming streams (request head, body, and a responder).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use tokio::io::{AsyncRead, AsyncWrite};

use super::coalesce::CoalescingIo;
use super::{status_from_h2, Driver, Http2Settings, RecvBody, SendBody};
use crate::protocol::headers::code_for_reset;
use crate::status::Status;

/// A server connection after the HTTP/2 handshake.
pub(crate) struct ServerConnection<IO> {
    inner: h2::server::Connection<CoalescingIo<IO>, Bytes>,
    driver: Driver<IO>,
}

impl<IO> std::fmt::Debug for ServerConnection<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerConnection")
    }
}

/// A stream the client opened.
#[derive(Debug)]
pub(crate) struct IncomingStream {
    pub(crate) head: http::request::Parts,
    pub(crate) body: RecvBody,
    pub(crate) respond: Responder,
}

impl<IO> ServerConnection<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    pub(crate) async fn handshake(
        io: IO,
        settings: &Http2Settings,
    ) -> Result<ServerConnection<IO>, h2::Error> {
        let mut builder = h2::server::Builder::new();
        builder
            .initial_window_size(settings.initial_stream_window)
            .initial_connection_window_size(settings.initial_connection_window)
            .max_frame_size(settings.max_frame_size)
            .max_header_list_size(settings.max_header_list_size);
        if let Some(max) = settings.max_concurrent_streams {
            builder.max_concurrent_streams(max);
        }
        let (io, mut driver) = Driver::new(io);
        let mut handshake = pin!(builder.handshake(io));
        let inner = poll_fn(|cx| driver.poll(cx, |cx| handshake.as_mut().poll(cx))).await?;
        Ok(ServerConnection { inner, driver })
    }

    /// Drives the connection and yields the next stream; `None` once the connection is closed.
    pub(crate) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<IncomingStream, h2::Error>>> {
        let inner = &mut self.inner;
        self.driver
            .poll(cx, |cx| inner.poll_accept(cx))
            .map(|next| {
                next.map(|result| {
                    result.map(|(request, respond)| {
                        let (head, body) = request.into_parts();
                        IncomingStream {
                            head,
                            body: RecvBody::new(body),
                            respond: Responder { inner: respond },
                        }
                    })
                })
            })
    }

    pub(crate) async fn accept(&mut self) -> Option<Result<IncomingStream, h2::Error>> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The connection's PING sender, once: for keepalive.
    pub(crate) fn pinger(&mut self) -> Option<super::Pinger> {
        self.inner.ping_pong().map(super::Pinger::new)
    }

    /// Sends GOAWAY and lets the open streams finish; `accept` ends once they have.
    pub(crate) fn graceful_shutdown(&mut self) {
        self.inner.graceful_shutdown();
    }
}

/// Sends the response to one incoming stream.
#[derive(Debug)]
pub(crate) struct Responder {
    inner: h2::server::SendResponse<Bytes>,
}

impl Responder {
    /// Sends the response headers; the body follows on the returned sender.
    pub(crate) fn send_headers(&mut self, head: Response<()>) -> Result<SendBody, Status> {
        self.inner
            .send_response(head, false)
            .map(SendBody::new)
            .map_err(status_from_h2)
    }

    /// Sends a response made of headers only, ending the stream (gRPC's Trailers-Only).
    pub(crate) fn send_headers_only(&mut self, head: Response<()>) -> Result<(), Status> {
        self.inner
            .send_response(head, true)
            .map(drop)
            .map_err(status_from_h2)
    }

    /// Resolves when the client resets the stream before the response is sent.
    pub(crate) fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        match self.inner.poll_reset(cx) {
            Poll::Ready(Ok(reason)) => Poll::Ready(Status::new(
                code_for_reset(reason.into()),
                format!("stream reset by client: {reason}"),
            )),
            Poll::Ready(Err(e)) => Poll::Ready(status_from_h2(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}
