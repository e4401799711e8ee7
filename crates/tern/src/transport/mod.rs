//! The one boundary between Tern and its HTTP/2 engine (today the `h2` crate). The rest of the
//! runtime sees only the types here — an incoming or outgoing stream's head, a body to read
//! chunks and trailers from, a body to send into — and `http`'s vocabulary types, so the engine
//! can be replaced without reshaping the server, the client or the public API.

pub(crate) mod client;
mod coalesce;
mod first_bytes;
// Tern's own HTTP/2 engine, growing here until it replaces h2: a server can run on it
// (`Http2Engine::Tern`); parts only the client will use are unused yet.
#[allow(dead_code)]
pub(crate) mod http2;
pub(crate) mod server;

use std::future::{poll_fn, Future};
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use tokio::io::AsyncWrite;

use self::coalesce::{CoalescingIo, WriteBack};
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
    inner: PingerInner,
}

/// Which engine the connection runs on.
#[derive(Debug)]
enum PingerInner {
    H2(h2::PingPong),
    Tern(http2::driver::TernPinger),
}

impl Pinger {
    pub(crate) fn new(inner: h2::PingPong) -> Pinger {
        Pinger {
            inner: PingerInner::H2(inner),
        }
    }

    pub(crate) fn tern(inner: http2::driver::TernPinger) -> Pinger {
        Pinger {
            inner: PingerInner::Tern(inner),
        }
    }

    pub(crate) fn send(&mut self) -> Result<(), Status> {
        match &mut self.inner {
            PingerInner::H2(inner) => inner.send_ping(h2::Ping::opaque()).map_err(status_from_h2),
            PingerInner::Tern(inner) => inner.send(),
        }
    }

    /// Resolves when the peer acknowledges the PING sent.
    pub(crate) fn poll_pong(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        match &mut self.inner {
            PingerInner::H2(inner) => inner
                .poll_pong(cx)
                .map(|r| r.map(drop).map_err(status_from_h2)),
            PingerInner::Tern(inner) => inner.poll_pong(cx),
        }
    }
}

/// The body of a received stream: message bytes as they arrive, then trailers.
#[derive(Debug)]
pub(crate) struct RecvBody {
    inner: RecvInner,
}

/// Which engine the stream runs on.
#[derive(Debug)]
enum RecvInner {
    H2(h2::RecvStream),
    Tern(http2::driver::TernRecv),
}

impl RecvBody {
    pub(crate) fn new(inner: h2::RecvStream) -> RecvBody {
        RecvBody {
            inner: RecvInner::H2(inner),
        }
    }

    pub(crate) fn tern(inner: http2::driver::TernRecv) -> RecvBody {
        RecvBody {
            inner: RecvInner::Tern(inner),
        }
    }

    /// The next chunk of bytes; `None` once the peer has ended its side.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Status>>> {
        let inner = match &mut self.inner {
            RecvInner::H2(inner) => inner,
            RecvInner::Tern(inner) => return inner.poll_chunk(cx),
        };
        match ready!(inner.poll_data(cx)) {
            Some(Ok(chunk)) => {
                // The bytes are handed on at once, so the window they used is given back now;
                // backpressure comes from not asking for the next chunk.
                let _ = inner.flow_control().release_capacity(chunk.len());
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
        match &mut self.inner {
            RecvInner::H2(inner) => inner.poll_trailers(cx).map_err(status_from_h2),
            RecvInner::Tern(inner) => inner.poll_trailers(cx),
        }
    }
}

/// The sending half of a stream.
#[derive(Debug)]
pub(crate) struct SendBody {
    inner: SendInner,
}

/// Which engine the stream runs on.
#[derive(Debug)]
enum SendInner {
    H2(h2::SendStream<Bytes>),
    Tern(http2::driver::TernSend),
}

impl SendBody {
    fn new(inner: h2::SendStream<Bytes>) -> SendBody {
        SendBody {
            inner: SendInner::H2(inner),
        }
    }

    fn tern(inner: http2::driver::TernSend) -> SendBody {
        SendBody {
            inner: SendInner::Tern(inner),
        }
    }

    /// Queues bytes at once, whatever the flow-control window: for a message already in memory.
    pub(crate) fn send_now(&mut self, data: Bytes, end_of_stream: bool) -> Result<(), Status> {
        match &mut self.inner {
            SendInner::H2(inner) => inner.send_data(data, end_of_stream).map_err(status_from_h2),
            SendInner::Tern(inner) => inner.send_now(data, end_of_stream),
        }
    }

    /// Waits until the peer's window has room for some of `len` bytes (h2), or until the
    /// stream has less than its write quota queued (Tern's engine), so that a sender of many
    /// messages is held back by a slow reader instead of buffering without bound.
    pub(crate) async fn ready(&mut self, len: usize) -> Result<(), Status> {
        if len == 0 {
            return Ok(());
        }
        let inner = match &mut self.inner {
            SendInner::H2(inner) => inner,
            SendInner::Tern(inner) => return poll_fn(|cx| inner.poll_ready(cx)).await,
        };
        inner.reserve_capacity(len);
        while inner.capacity() == 0 {
            match poll_fn(|cx| inner.poll_capacity(cx)).await {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(status_from_h2(e)),
                None => return Err(Status::cancelled("stream closed by peer")),
            }
        }
        Ok(())
    }

    pub(crate) fn send_trailers(&mut self, trailers: HeaderMap) -> Result<(), Status> {
        match &mut self.inner {
            SendInner::H2(inner) => inner.send_trailers(trailers).map_err(status_from_h2),
            SendInner::Tern(inner) => inner.send_trailers(trailers),
        }
    }

    /// Resets the stream with CANCEL: the call was abandoned.
    pub(crate) fn cancel(&mut self) {
        match &mut self.inner {
            SendInner::H2(inner) => inner.send_reset(h2::Reason::CANCEL),
            SendInner::Tern(inner) => inner.cancel(),
        }
    }

    /// Resolves when the peer resets the stream, with the status that means.
    pub(crate) fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        let inner = match &mut self.inner {
            SendInner::H2(inner) => inner,
            SendInner::Tern(inner) => return inner.poll_reset(cx),
        };
        match ready!(inner.poll_reset(cx)) {
            Ok(reason) => Poll::Ready(Status::new(
                code_for_reset(reason.into()),
                format!("stream reset by peer: {reason}"),
            )),
            Err(e) => Poll::Ready(status_from_h2(e)),
        }
    }
}

/// Makes a connection's task let the other ready tasks run before it drives h2.
///
/// h2 writes what its streams queued each time its connection task is polled, and tokio runs a
/// task that was just woken next. So when 64 calls finish one after another, each wakes the
/// connection task, which writes that call's response alone: one `writev` per call. Waiting one
/// turn of the scheduler (tokio's `yield_now`, whose wake-up comes after the tasks already
/// queued) lets every call that is ready queue its frames first, and the connection writes them
/// together. A quiet connection pays one extra scheduler turn per wake-up.
#[derive(Debug, Default)]
pub(crate) struct DeferredFlush {
    /// Whether this wake-up's turn has been given up already.
    yielded: bool,
}

impl DeferredFlush {
    /// Ready once the other ready tasks have had their turn since the task was woken.
    pub(crate) fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        let turn = std::pin::pin!(tokio::task::yield_now());
        // yield_now is pending on its first poll and has arranged the wake-up; dropping it
        // then is how it is meant to be used from a poll function.
        turn.poll(cx)
    }

    /// Records what driving h2 gave: a pending poll means the next wake-up yields first.
    pub(crate) fn polled<T>(&mut self, polled: &Poll<T>) {
        if polled.is_pending() {
            self.yielded = false;
        }
    }
}

/// How a connection task drives h2, on the server and the client alike: its turn first
/// ([`DeferredFlush`]), then h2, then what h2 wrote, out to the socket ([`coalesce`]).
#[derive(Debug)]
pub(crate) struct Driver<IO> {
    turn: DeferredFlush,
    write_back: WriteBack<IO>,
}

impl<IO: AsyncWrite + Unpin> Driver<IO> {
    /// Wraps `io` for h2, and returns the driver of the task that will poll h2 over it.
    pub(crate) fn new(io: IO) -> (CoalescingIo<IO>, Driver<IO>) {
        let (io, write_back) = coalesce::coalescing(io);
        let driver = Driver {
            turn: DeferredFlush::default(),
            write_back,
        };
        (io, driver)
    }

    /// Polls h2 through `poll_h2` once the task has had its turn, then writes out what it wrote.
    pub(crate) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll_h2: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        ready!(self.turn.poll_turn(cx));
        let polled = poll_h2(cx);
        self.turn.polled(&polled);
        // When the socket is full this is pending, and its readiness wakes the task to finish.
        let _ = self.write_back.poll_write_back(cx);
        polled
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The property the connection tasks rely on: after a wake-up, the tasks already queued run
    /// before the connection is driven, so their frames go out in one write.
    #[tokio::test(flavor = "current_thread")]
    async fn a_deferred_turn_lets_the_queued_tasks_run_first() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let connection = {
            let log = log.clone();
            tokio::spawn(async move {
                let mut flush = DeferredFlush::default();
                for round in 0..2 {
                    poll_fn(|cx| {
                        ready!(flush.poll_turn(cx));
                        Poll::Ready(())
                    })
                    .await;
                    log.lock().unwrap().push(format!("connection {round}"));
                    // Pending once, as h2 is when it has nothing to do: the next wake-up
                    // waits its turn again.
                    let mut pending_once = true;
                    poll_fn(|cx| {
                        let polled = if std::mem::take(&mut pending_once) {
                            cx.waker().wake_by_ref();
                            Poll::Pending
                        } else {
                            Poll::Ready(())
                        };
                        flush.polled(&polled);
                        polled
                    })
                    .await;
                }
            })
        };
        let calls: Vec<_> = (0..3)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { log.lock().unwrap().push(format!("call {i}")) })
            })
            .collect();
        for call in calls {
            call.await.unwrap();
        }
        connection.await.unwrap();
        let log = log.lock().unwrap();
        assert_eq!(
            log[..4],
            ["call 0", "call 1", "call 2", "connection 0"],
            "the connection was driven before the queued calls ran"
        );
        assert_eq!(log[4], "connection 1");
    }
}
