//! The one boundary between Tern and its HTTP/2 engine (today the `h2` crate). The rest of the
//! runtime sees only the types here — an incoming or outgoing stream's head, a body to read
//! chunks and trailers from, a body to send into — and `http`'s vocabulary types, so the engine
//! can be replaced without reshaping the server, the client or the public API.

pub(crate) mod client;
pub(crate) mod server;

use std::future::poll_fn;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::HeaderMap;

use crate::protocol::headers::code_for_reset;
use crate::status::{Code, Status};

/// HTTP/2 settings shared by both sides.
#[derive(Clone, Debug)]
pub(crate) struct Http2Settings {
    pub(crate) initial_stream_window: u32,
    pub(crate) initial_connection_window: u32,
    pub(crate) max_frame_size: u32,
    pub(crate) max_header_list_size: u32,
    pub(crate) max_concurrent_streams: Option<u32>,
}

impl Default for Http2Settings {
    fn default() -> Http2Settings {
        Http2Settings {
            // Larger than HTTP/2's 64 KiB default so that one stream can fill a fast link, as
            // grpc-go and C-core do.
            initial_stream_window: 1024 * 1024,
            initial_connection_window: 2 * 1024 * 1024,
            max_frame_size: 16 * 1024,
            max_header_list_size: 16 * 1024,
            max_concurrent_streams: None,
        }
    }
}

/// Maps an HTTP/2 failure to the status the call ends with.
pub(crate) fn status_from_h2(err: h2::Error) -> Status {
    if let Some(reason) = err.reason() {
        let code = code_for_reset(reason.into());
        let what = if err.is_go_away() {
            "connection closed by GOAWAY"
        } else if err.is_remote() {
            "stream reset by peer"
        } else {
            "stream reset"
        };
        let code = if err.is_go_away() && code == Code::Internal && reason == h2::Reason::NO_ERROR {
            Code::Unavailable
        } else {
            code
        };
        return Status::new(code, format!("{what}: {reason}"));
    }
    if err.is_io() {
        return Status::unavailable(format!("connection lost: {err}"));
    }
    Status::internal(format!("HTTP/2 error: {err}"))
}

/// Sends HTTP/2 PINGs on a connection and sees their acknowledgements: keepalive.
#[derive(Debug)]
pub(crate) struct Pinger {
    inner: h2::PingPong,
}

impl Pinger {
    pub(crate) fn new(inner: h2::PingPong) -> Pinger {
        Pinger { inner }
    }

    pub(crate) fn send(&mut self) -> Result<(), Status> {
        self.inner
            .send_ping(h2::Ping::opaque())
            .map_err(status_from_h2)
    }

    /// Resolves when the peer acknowledges the PING sent.
    pub(crate) fn poll_pong(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        self.inner
            .poll_pong(cx)
            .map(|r| r.map(drop).map_err(status_from_h2))
    }
}

/// The body of a received stream: message bytes as they arrive, then trailers.
#[derive(Debug)]
pub(crate) struct RecvBody {
    inner: h2::RecvStream,
}

impl RecvBody {
    pub(crate) fn new(inner: h2::RecvStream) -> RecvBody {
        RecvBody { inner }
    }

    /// The next chunk of bytes; `None` once the peer has ended its side.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Status>>> {
        match ready!(self.inner.poll_data(cx)) {
            Some(Ok(chunk)) => {
                // The bytes are handed on at once, so the window they used is given back now;
                // backpressure comes from not asking for the next chunk.
                let _ = self.inner.flow_control().release_capacity(chunk.len());
                Poll::Ready(Some(Ok(chunk)))
            }
            Some(Err(e)) => Poll::Ready(Some(Err(status_from_h2(e)))),
            None => Poll::Ready(None),
        }
    }

    pub(crate) async fn chunk(&mut self) -> Option<Result<Bytes, Status>> {
        poll_fn(|cx| self.poll_chunk(cx)).await
    }

    pub(crate) fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, Status>> {
        self.inner.poll_trailers(cx).map_err(status_from_h2)
    }
}

/// The sending half of a stream.
#[derive(Debug)]
pub(crate) struct SendBody {
    inner: h2::SendStream<Bytes>,
}

impl SendBody {
    fn new(inner: h2::SendStream<Bytes>) -> SendBody {
        SendBody { inner }
    }

    /// Queues bytes at once, whatever the flow-control window: for a message already in memory.
    pub(crate) fn send_now(&mut self, data: Bytes, end_of_stream: bool) -> Result<(), Status> {
        self.inner
            .send_data(data, end_of_stream)
            .map_err(status_from_h2)
    }

    /// Waits until the peer's window has room for some of `len` bytes, so that a sender of many
    /// messages is held back by a slow reader instead of buffering without bound.
    pub(crate) async fn ready(&mut self, len: usize) -> Result<(), Status> {
        if len == 0 {
            return Ok(());
        }
        self.inner.reserve_capacity(len);
        while self.inner.capacity() == 0 {
            match poll_fn(|cx| self.inner.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(status_from_h2(e)),
                None => return Err(Status::cancelled("stream closed by peer")),
            }
        }
        Ok(())
    }

    pub(crate) fn send_trailers(&mut self, trailers: HeaderMap) -> Result<(), Status> {
        self.inner.send_trailers(trailers).map_err(status_from_h2)
    }

    /// Resets the stream with CANCEL: the call was abandoned.
    pub(crate) fn cancel(&mut self) {
        self.inner.send_reset(h2::Reason::CANCEL);
    }

    /// Resolves when the peer resets the stream, with the status that means.
    pub(crate) fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        match ready!(self.inner.poll_reset(cx)) {
            Ok(reason) => Poll::Ready(Status::new(
                code_for_reset(reason.into()),
                format!("stream reset by peer: {reason}"),
            )),
            Err(e) => Poll::Ready(status_from_h2(e)),
        }
    }
}
