//! The client side of the transport: one HTTP/2 connection over any byte stream, on which each
//! call opens a stream.

use std::future::Future;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{status_from_h2, Http2Settings, RecvBody, SendBody};
use crate::status::Status;

/// A handle to an open client connection; cloned for each call, all multiplexed on it.
#[derive(Clone, Debug)]
pub(crate) struct ClientConnection {
    send: h2::client::SendRequest<Bytes>,
}

/// The response to a stream this side opened: its head arrives later.
#[derive(Debug)]
pub(crate) struct PendingResponse {
    inner: h2::client::ResponseFuture,
}

impl ClientConnection {
    /// Performs the HTTP/2 handshake. The returned future drives the connection's IO and must be
    /// spawned; it ends when the connection closes.
    pub(crate) async fn handshake<IO>(
        io: IO,
        settings: &Http2Settings,
    ) -> Result<(ClientConnection, impl Future<Output = Result<(), Status>>), Status>
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
        let (send, connection) = builder.handshake(io).await.map_err(status_from_h2)?;
        let driver = async move { connection.await.map_err(status_from_h2) };
        Ok((ClientConnection { send }, driver))
    }

    /// Opens a stream with this request head. With `end_of_stream`, the request has no body.
    pub(crate) async fn start(
        &self,
        head: http::Request<()>,
    ) -> Result<(PendingResponse, SendBody), Status> {
        let send = self.send.clone().ready().await.map_err(status_from_h2)?;
        let mut send = send;
        let (response, body) = send.send_request(head, false).map_err(status_from_h2)?;
        Ok((PendingResponse { inner: response }, SendBody::new(body)))
    }
}

impl PendingResponse {
    pub(crate) async fn head(self) -> Result<(http::response::Parts, RecvBody), Status> {
        let response = self.inner.await.map_err(status_from_h2)?;
        let (head, body) = response.into_parts();
        Ok((head, RecvBody::new(body)))
    }
}
