//! The server side of the transport: an HTTP/2 connection over any byte stream, yielding
//! incoming streams (request head, body, and a responder). It runs on h2 (the default) or on
//! Tern's own engine ([`Http2Engine::Tern`], the driver in `http2::driver`).

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use tokio::io::{AsyncRead, AsyncWrite};

use super::coalesce::CoalescingIo;
use super::http2::connection::Config;
use super::http2::driver::{DriverError, ServerDriver, TernResponder};
use super::{status_from_h2, Driver, Http2Settings, RecvBody, SendBody};
use crate::protocol::headers::code_for_reset;
use crate::status::Status;

/// Which HTTP/2 implementation a server's connections run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Http2Engine {
    /// The `h2` crate (the default for now).
    #[default]
    H2,
    /// Tern's own engine (issue 11): a sans-IO connection driven by one task per connection.
    /// Experimental; `TERN_HTTP2_ENGINE=tern` in the environment picks it for every
    /// [`Server::builder`](crate::Server::builder).
    Tern,
}

impl Http2Engine {
    /// The engine `TERN_HTTP2_ENGINE` names (`tern` or `h2`), else the default.
    pub(crate) fn from_env() -> Http2Engine {
        match std::env::var("TERN_HTTP2_ENGINE") {
            Ok(v) if v.eq_ignore_ascii_case("tern") => Http2Engine::Tern,
            _ => Http2Engine::H2,
        }
    }
}

/// A server connection after the HTTP/2 handshake. One per connection, owned by its task, so
/// the variants' sizes differ harmlessly.
#[allow(clippy::large_enum_variant)]
pub(crate) enum ServerConnection<IO> {
    H2 {
        inner: h2::server::Connection<CoalescingIo<IO>, Bytes>,
        driver: Driver<IO>,
    },
    Tern(ServerDriver<IO>),
}

impl<IO> std::fmt::Debug for ServerConnection<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerConnection")
    }
}

/// Why a connection ended badly.
#[derive(Debug)]
pub(crate) enum ConnectionError {
    H2(h2::Error),
    Tern(DriverError),
}

impl std::fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectionError::H2(e) => e.fmt(f),
            ConnectionError::Tern(e) => e.fmt(f),
        }
    }
}

/// A stream the client opened.
#[derive(Debug)]
pub(crate) struct IncomingStream {
    pub(crate) head: http::request::Parts,
    pub(crate) body: RecvBody,
    pub(crate) respond: Responder,
}

/// The engine's configuration for a server with these settings. The engine's own keepalive
/// is off: the server's connection loop sends keepalive PINGs through the pinger, as on h2.
pub(crate) fn tern_config(
    settings: &Http2Settings,
    handshake_timeout: std::time::Duration,
) -> Config {
    let defaults = Config::default();
    Config {
        max_concurrent_streams: settings
            .max_concurrent_streams
            .unwrap_or(defaults.max_concurrent_streams),
        initial_stream_window: settings.initial_stream_window,
        initial_connection_window: settings.initial_connection_window,
        max_frame_size: settings.max_frame_size,
        max_header_list_size: settings.max_header_list_size,
        handshake_timeout,
        keepalive_interval: None,
        ..defaults
    }
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
        Ok(ServerConnection::H2 { inner, driver })
    }

    /// A connection on Tern's engine; the handshake happens as it is driven.
    pub(crate) fn tern(io: IO, config: Config) -> ServerConnection<IO> {
        ServerConnection::Tern(ServerDriver::new(io, config))
    }

    /// Drives the connection and yields the next stream; `None` once the connection is closed.
    pub(crate) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<IncomingStream, ConnectionError>>> {
        let (inner, driver) = match self {
            ServerConnection::H2 { inner, driver } => (inner, driver),
            ServerConnection::Tern(driver) => {
                return driver.poll_accept(cx).map(|next| {
                    next.map(|result| {
                        result
                            .map(|incoming| IncomingStream {
                                head: incoming.head,
                                body: RecvBody::tern(incoming.body),
                                respond: Responder {
                                    inner: ResponderInner::Tern(incoming.respond),
                                },
                            })
                            .map_err(ConnectionError::Tern)
                    })
                })
            }
        };
        driver.poll(cx, |cx| inner.poll_accept(cx)).map(|next| {
            next.map(|result| {
                result
                    .map(|(request, respond)| {
                        let (head, body) = request.into_parts();
                        IncomingStream {
                            head,
                            body: RecvBody::new(body),
                            respond: Responder {
                                inner: ResponderInner::H2(respond),
                            },
                        }
                    })
                    .map_err(ConnectionError::H2)
            })
        })
    }

    pub(crate) async fn accept(&mut self) -> Option<Result<IncomingStream, ConnectionError>> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// The connection's PING sender, once: for keepalive (the server's connection loop runs
    /// it on either engine, so its timing and its channelz count are the same).
    pub(crate) fn pinger(&mut self) -> Option<super::Pinger> {
        match self {
            ServerConnection::H2 { inner, .. } => inner.ping_pong().map(super::Pinger::new),
            ServerConnection::Tern(driver) => driver.pinger().map(super::Pinger::tern),
        }
    }

    /// Sends GOAWAY and lets the open streams finish; `accept` ends once they have.
    pub(crate) fn graceful_shutdown(&mut self) {
        match self {
            ServerConnection::H2 { inner, .. } => inner.graceful_shutdown(),
            ServerConnection::Tern(driver) => driver.graceful_shutdown(),
        }
    }
}

/// Sends the response to one incoming stream.
#[derive(Debug)]
pub(crate) struct Responder {
    inner: ResponderInner,
}

/// Which engine the stream runs on.
#[derive(Debug)]
enum ResponderInner {
    H2(h2::server::SendResponse<Bytes>),
    Tern(TernResponder),
}

impl Responder {
    /// Sends the response headers; the body follows on the returned sender.
    pub(crate) fn send_headers(&mut self, head: Response<()>) -> Result<SendBody, Status> {
        match &mut self.inner {
            ResponderInner::H2(inner) => inner
                .send_response(head, false)
                .map(SendBody::new)
                .map_err(status_from_h2),
            ResponderInner::Tern(inner) => inner.send_headers(head).map(SendBody::tern),
        }
    }

    /// Sends a response made of headers only, ending the stream (gRPC's Trailers-Only).
    pub(crate) fn send_headers_only(&mut self, head: Response<()>) -> Result<(), Status> {
        match &mut self.inner {
            ResponderInner::H2(inner) => inner
                .send_response(head, true)
                .map(drop)
                .map_err(status_from_h2),
            ResponderInner::Tern(inner) => inner.send_headers_only(head),
        }
    }

    /// Resolves when the client resets the stream before the response is sent.
    pub(crate) fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        let inner = match &mut self.inner {
            ResponderInner::H2(inner) => inner,
            ResponderInner::Tern(inner) => return inner.poll_reset(cx),
        };
        match inner.poll_reset(cx) {
            Poll::Ready(Ok(reason)) => Poll::Ready(Status::new(
                code_for_reset(reason.into()),
                format!("stream reset by client: {reason}"),
            )),
            Poll::Ready(Err(e)) => Poll::Ready(status_from_h2(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}
