//! The server side's tokio driver for the sans-IO [`Connection`]: the one owner of a
//! connection's socket and engine state (quinn's shape; design note §8.2). Nothing here is
//! shared by two streams: each stream's handler talks to the driver through its own small
//! state (what arrived for it, whether it was reset, how much it has queued) and through one
//! command queue into the driver, which alone touches the `Connection`.
//!
//! One pass of [`ServerDriver::poll_accept`]: apply every command the handlers queued; read
//! the socket into a `BytesMut` (while [`Connection::wants_read`]) and feed
//! [`Connection::recv`]; hand each event to its stream (a new request becomes an
//! [`IncomingStream`]); write what [`Connection::poll_transmit`] gives with vectored writes
//! (partial writes kept for the next pass); run [`Connection::handle_timeout`] at
//! [`Connection::next_timeout`]. A small batch written on a handler's wake-up waits one
//! scheduler turn first, so that the other handlers that are ready can add theirs to the same
//! write (grpc-go's loopy yields the same way under 1,000 bytes).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::Sleep;

use super::connection::{Config, Connection, Event, RequestHead};
use super::frame::{ErrorCode, StreamId};
use crate::protocol::headers::code_for_reset;
use crate::status::Status;

/// How many bytes one read asks the socket for (the buffer grows by this much when full).
const READ_CHUNK: usize = 32 * 1024;

/// How many reads one pass of the driver makes at most before it dispatches and writes.
const READS_PER_PASS: usize = 8;

/// A batch smaller than this, made of what handlers queued, waits one scheduler turn before
/// it is written (grpc-go's `minBatchSize`).
const MIN_BATCH: usize = 1000;

/// The per-stream write quota: [`TernSend::ready`] waits while the stream has this many bytes
/// queued and not yet written (grpc-go's `defaultWriteQuota`).
const WRITE_QUOTA: usize = 64 * 1024;

/// What a handler asks of the driver.
#[derive(Debug)]
enum Command {
    Headers {
        stream: StreamId,
        status: StatusCode,
        headers: HeaderMap,
        end_stream: bool,
    },
    Data {
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    },
    Trailers {
        stream: StreamId,
        headers: HeaderMap,
    },
    Reset {
        stream: StreamId,
        code: ErrorCode,
    },
    /// The handler took this many bytes of the stream's DATA.
    Release {
        stream: StreamId,
        n: usize,
    },
    /// Every handle of the stream is gone: the handler has returned.
    Done {
        stream: StreamId,
    },
    /// A keepalive PING from the server's connection loop.
    Ping,
}

/// The payload of the PINGs [`TernPinger`] sends (the engine's shutdown PING has its own).
const PINGER_PAYLOAD: [u8; 8] = *b"tern-png";

/// Where the connection loop's keepalive PING stands.
#[derive(Debug, Default)]
struct PingState {
    acked: bool,
    closed: bool,
    waker: Option<Waker>,
}

fn lock_ping(state: &Mutex<PingState>) -> MutexGuard<'_, PingState> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends keepalive PINGs on a connection on Tern's engine and sees their acks, for the
/// server's connection loop (as `h2::PingPong` does on h2).
#[derive(Debug)]
pub(crate) struct TernPinger {
    commands: mpsc::UnboundedSender<Command>,
    state: Arc<Mutex<PingState>>,
}

impl TernPinger {
    pub(crate) fn send(&mut self) -> Result<(), Status> {
        let mut state = lock_ping(&self.state);
        if state.closed {
            return Err(Status::unavailable("connection closed"));
        }
        state.acked = false;
        drop(state);
        self.commands
            .send(Command::Ping)
            .map_err(|_| Status::unavailable("connection closed"))
    }

    /// Ready when the PING sent is acknowledged.
    pub(crate) fn poll_pong(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let mut state = lock_ping(&self.state);
        if std::mem::take(&mut state.acked) {
            return Poll::Ready(Ok(()));
        }
        if state.closed {
            return Poll::Ready(Err(Status::unavailable("connection closed")));
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// One stream's state, shared by its handler and the driver only. Memory: the received chunks
/// are bounded by the stream's receive window (capacity is released only when the handler
/// takes them), the queued bytes by the write quota (or the messages a handler sends at once).
#[derive(Debug, Default)]
struct StreamState {
    chunks: VecDeque<Bytes>,
    trailers: Option<HeaderMap>,
    /// The peer has ended its side.
    end: bool,
    /// The stream is dead: reset by the peer, by the engine for a peer error, or the
    /// connection is gone.
    failed: Option<Status>,
    /// The body handle was dropped: what comes is released at once.
    recv_dropped: bool,
    /// Bytes the handler sent and the driver has not yet seen written.
    unsent: usize,
    recv_waker: Option<Waker>,
    reset_waker: Option<Waker>,
    send_waker: Option<Waker>,
}

impl StreamState {
    fn fail(&mut self, status: Status) {
        if self.failed.is_none() {
            self.failed = Some(status);
        }
        self.wake_all();
    }

    fn wake_all(&mut self) {
        for waker in [
            self.recv_waker.take(),
            self.reset_waker.take(),
            self.send_waker.take(),
        ]
        .into_iter()
        .flatten()
        {
            waker.wake();
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<StreamState>,
}

impl Shared {
    /// The state; a handler that panicked holding the lock leaves it usable (it holds only
    /// plain data).
    fn lock(&self) -> MutexGuard<'_, StreamState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What each of a stream's handles holds; when the last one goes, the driver hears `Done`.
#[derive(Debug)]
struct Handle {
    stream: StreamId,
    shared: Arc<Shared>,
    commands: mpsc::UnboundedSender<Command>,
}

impl Handle {
    fn send(&self, command: Command) -> Result<(), Status> {
        self.commands
            .send(command)
            .map_err(|_| Status::unavailable("connection closed"))
    }

    fn failed(&self) -> Result<(), Status> {
        match &self.shared.lock().failed {
            Some(status) => Err(status.clone()),
            None => Ok(()),
        }
    }

    fn poll_reset(&self, cx: &mut Context<'_>) -> Poll<Status> {
        let mut state = self.shared.lock();
        if let Some(status) = &state.failed {
            return Poll::Ready(status.clone());
        }
        state.reset_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Done {
            stream: self.stream,
        });
    }
}

/// The received body of a stream on Tern's engine.
#[derive(Debug)]
pub(crate) struct TernRecv {
    handle: Arc<Handle>,
}

impl TernRecv {
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Status>>> {
        let mut state = self.handle.shared.lock();
        if let Some(chunk) = state.chunks.pop_front() {
            drop(state);
            // Taken: the window it used is given back (backpressure is not asking for more).
            let _ = self.handle.send(Command::Release {
                stream: self.handle.stream,
                n: chunk.len(),
            });
            return Poll::Ready(Some(Ok(chunk)));
        }
        if state.end {
            return Poll::Ready(None);
        }
        if let Some(status) = &state.failed {
            return Poll::Ready(Some(Err(status.clone())));
        }
        state.recv_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(crate) fn poll_trailers(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<HeaderMap>, Status>> {
        let mut state = self.handle.shared.lock();
        if let Some(trailers) = state.trailers.take() {
            return Poll::Ready(Ok(Some(trailers)));
        }
        if state.end {
            return Poll::Ready(Ok(None));
        }
        if let Some(status) = &state.failed {
            return Poll::Ready(Err(status.clone()));
        }
        state.recv_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for TernRecv {
    fn drop(&mut self) {
        let mut state = self.handle.shared.lock();
        state.recv_dropped = true;
        let n: usize = state.chunks.drain(..).map(|c| c.len()).sum();
        drop(state);
        if n > 0 {
            let _ = self.handle.send(Command::Release {
                stream: self.handle.stream,
                n,
            });
        }
    }
}

/// Sends the response head of a stream on Tern's engine.
#[derive(Debug)]
pub(crate) struct TernResponder {
    handle: Arc<Handle>,
}

impl TernResponder {
    fn send_head(&mut self, head: Response<()>, end_stream: bool) -> Result<(), Status> {
        self.handle.failed()?;
        let (parts, ()) = head.into_parts();
        self.handle.send(Command::Headers {
            stream: self.handle.stream,
            status: parts.status,
            headers: parts.headers,
            end_stream,
        })
    }

    pub(crate) fn send_headers(&mut self, head: Response<()>) -> Result<TernSend, Status> {
        self.send_head(head, false)?;
        Ok(TernSend {
            handle: self.handle.clone(),
        })
    }

    pub(crate) fn send_headers_only(&mut self, head: Response<()>) -> Result<(), Status> {
        self.send_head(head, true)
    }

    pub(crate) fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        self.handle.poll_reset(cx)
    }
}

/// The sending half of a stream on Tern's engine.
#[derive(Debug)]
pub(crate) struct TernSend {
    handle: Arc<Handle>,
}

impl TernSend {
    pub(crate) fn send_now(&mut self, data: Bytes, end_stream: bool) -> Result<(), Status> {
        {
            let mut state = self.handle.shared.lock();
            if let Some(status) = &state.failed {
                return Err(status.clone());
            }
            state.unsent += data.len();
        }
        self.handle.send(Command::Data {
            stream: self.handle.stream,
            data,
            end_stream,
        })
    }

    /// Waits while the stream has a write quota's worth of bytes queued and not yet written.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Status>> {
        let mut state = self.handle.shared.lock();
        if let Some(status) = &state.failed {
            return Poll::Ready(Err(status.clone()));
        }
        if state.unsent < WRITE_QUOTA {
            return Poll::Ready(Ok(()));
        }
        state.send_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    pub(crate) fn send_trailers(&mut self, headers: HeaderMap) -> Result<(), Status> {
        self.handle.failed()?;
        self.handle.send(Command::Trailers {
            stream: self.handle.stream,
            headers,
        })
    }

    pub(crate) fn cancel(&mut self) {
        let _ = self.handle.send(Command::Reset {
            stream: self.handle.stream,
            code: ErrorCode::Cancel,
        });
    }

    pub(crate) fn poll_reset(&mut self, cx: &mut Context<'_>) -> Poll<Status> {
        self.handle.poll_reset(cx)
    }
}

/// A request as the driver hands it to the server: its head and the stream's handles.
#[derive(Debug)]
pub(crate) struct TernIncoming {
    pub(crate) head: http::request::Parts,
    pub(crate) body: TernRecv,
    pub(crate) respond: TernResponder,
}

/// What the driver keeps per stream with a live handler.
#[derive(Debug)]
struct Entry {
    shared: Arc<Shared>,
    /// Bytes passed to `send_data` and not yet seen leave the engine.
    applied: usize,
    /// The handler ended its side (END_STREAM, trailers or reset).
    ended: bool,
}

/// How the connection ended, for the log.
#[derive(Debug)]
pub(crate) struct DriverError(pub(crate) String);

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DriverError {}

/// One server connection on Tern's engine, driven by whoever polls
/// [`ServerDriver::poll_accept`] (the connection's task).
pub(crate) struct ServerDriver<IO> {
    io: IO,
    conn: Connection,
    read_buf: BytesMut,
    eof: bool,
    /// The socket failed: nothing more is read or written.
    broken: bool,
    commands_tx: mpsc::UnboundedSender<Command>,
    commands: mpsc::UnboundedReceiver<Command>,
    streams: HashMap<StreamId, Entry>,
    /// Streams with bytes in the engine's queues (to credit their write quota as they go).
    sending: Vec<StreamId>,
    accepted: VecDeque<TernIncoming>,
    /// The batch being written, front first.
    out: VecDeque<Bytes>,
    out_len: usize,
    batch: Vec<Bytes>,
    needs_flush: bool,
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Instant>,
    /// A handler's command came since the last write (a small batch then waits a turn).
    commanded: bool,
    /// This wake-up's turn has been given up already.
    yielded: bool,
    /// The batch in `out` waited a turn and nothing of it is written: the next transmit
    /// may be appended to it.
    appendable: bool,
    /// Why the connection ended, when it ended badly.
    error: Option<String>,
    done: bool,
    /// The connection loop's keepalive pinger, once it has asked for one.
    pinger: Option<Arc<Mutex<PingState>>>,
}

impl<IO> std::fmt::Debug for ServerDriver<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDriver")
            .field("streams", &self.streams.len())
            .finish_non_exhaustive()
    }
}

impl<IO> ServerDriver<IO>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    /// A server connection over `io`, which starts with the client preface. Our SETTINGS go
    /// out at the first poll.
    pub(crate) fn new(io: IO, config: Config) -> ServerDriver<IO> {
        let (commands_tx, commands) = mpsc::unbounded_channel();
        let now = Instant::now();
        ServerDriver {
            io,
            conn: Connection::server(config, now),
            read_buf: BytesMut::new(),
            eof: false,
            broken: false,
            commands_tx,
            commands,
            streams: HashMap::new(),
            sending: Vec::new(),
            accepted: VecDeque::new(),
            out: VecDeque::new(),
            out_len: 0,
            batch: Vec::new(),
            needs_flush: false,
            timer: Box::pin(tokio::time::sleep_until(tokio::time::Instant::from_std(
                now,
            ))),
            timer_at: Some(now),
            commanded: false,
            yielded: false,
            appendable: false,
            error: None,
            done: false,
            pinger: None,
        }
    }

    /// The connection's keepalive PING sender, once.
    pub(crate) fn pinger(&mut self) -> Option<TernPinger> {
        if self.pinger.is_some() {
            return None;
        }
        let state = Arc::new(Mutex::new(PingState::default()));
        self.pinger = Some(state.clone());
        Some(TernPinger {
            commands: self.commands_tx.clone(),
            state,
        })
    }

    /// Starts a graceful shutdown: GOAWAY in two phases, then the close once the streams are
    /// done; `poll_accept` gives `None` then.
    pub(crate) fn graceful_shutdown(&mut self) {
        self.conn.go_away(ErrorCode::NoError, Instant::now());
    }

    /// Drives the connection; gives the next request, or `None` once the connection is over
    /// (an error, if it ended with one).
    pub(crate) fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<TernIncoming, DriverError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut timer_fired = false;
        loop {
            let mut progress = false;
            while let Poll::Ready(Some(command)) = self.commands.poll_recv(cx) {
                self.apply(command);
                self.commanded = true;
                progress = true;
            }
            progress |= self.read(cx);
            progress |= self.dispatch();
            match self.write(cx) {
                Poll::Ready(wrote) => progress |= wrote,
                // Giving up this turn (a small batch, more may come).
                Poll::Pending => return Poll::Pending,
            }
            if let Some(incoming) = self.accepted.pop_front() {
                return Poll::Ready(Some(Ok(incoming)));
            }
            if self.finished(cx) {
                self.done = true;
                self.fail_all("connection closed");
                return Poll::Ready(self.error.take().map(|e| Err(DriverError(e))));
            }
            if progress {
                continue;
            }
            // Once per poll: a deadline the engine left in the past cannot spin this loop
            // (the timer, already due, wakes the task again instead).
            if self.poll_timer(cx, !timer_fired) {
                timer_fired = true;
                continue;
            }
            self.yielded = false;
            return Poll::Pending;
        }
    }

    /// Reads the socket while the engine wants bytes, and hands it what it left before when
    /// it wants them again. True if anything was read or consumed.
    fn read(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        // Bytes the engine paused in front of (or a partial frame): offered again, as it
        // may read now (after a transmit or a handler's end).
        if self.conn.wants_read() && !self.read_buf.is_empty() {
            let before = self.read_buf.len();
            self.recv();
            progress |= self.read_buf.len() != before;
        }
        // A few chunks per pass, so that a peer that keeps the socket full cannot hold back
        // the events and writes of this connection (the pass loops while anything moved).
        let mut reads = 0;
        while self.conn.wants_read() && !self.eof && !self.broken && reads < READS_PER_PASS {
            reads += 1;
            let len = self.read_buf.len();
            if self.read_buf.capacity() - len < READ_CHUNK / 4 {
                self.read_buf.reserve(READ_CHUNK);
            }
            let spare = (self.read_buf.capacity() - len).min(READ_CHUNK);
            // Zeroed, as reading into uninitialized memory would need `unsafe`.
            self.read_buf.resize(len + spare, 0);
            let mut buf = ReadBuf::new(&mut self.read_buf[len..]);
            let polled = Pin::new(&mut self.io).poll_read(cx, &mut buf);
            let n = buf.filled().len();
            self.read_buf.truncate(len + n);
            match polled {
                Poll::Ready(Ok(())) if n == 0 => {
                    self.eof = true;
                    progress = true;
                }
                Poll::Ready(Ok(())) => {
                    self.recv();
                    progress = true;
                }
                Poll::Ready(Err(e)) => {
                    self.broken = true;
                    self.error.get_or_insert(format!("read failed: {e}"));
                    progress = true;
                }
                Poll::Pending => break,
            }
        }
        progress
    }

    fn recv(&mut self) {
        self.conn.recv(&mut self.read_buf, Instant::now());
    }

    /// Hands the engine's events to the streams. True if there were any.
    fn dispatch(&mut self) -> bool {
        let mut any = false;
        while let Some(event) = self.conn.poll_event() {
            any = true;
            match event {
                Event::Request {
                    stream,
                    head,
                    end_stream,
                } => self.request(stream, head, end_stream),
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    let Some(entry) = self.streams.get(&stream) else {
                        self.conn.release_capacity(stream, data.len());
                        continue;
                    };
                    let mut state = entry.shared.lock();
                    if state.recv_dropped {
                        drop(state);
                        self.conn.release_capacity(stream, data.len());
                        continue;
                    }
                    if !data.is_empty() {
                        state.chunks.push_back(data);
                    }
                    state.end |= end_stream;
                    if let Some(waker) = state.recv_waker.take() {
                        waker.wake();
                    }
                }
                Event::Trailers { stream, headers } => {
                    if let Some(entry) = self.streams.get(&stream) {
                        let mut state = entry.shared.lock();
                        state.trailers = Some(headers);
                        state.end = true;
                        if let Some(waker) = state.recv_waker.take() {
                            waker.wake();
                        }
                    }
                }
                Event::Reset {
                    stream,
                    code,
                    remote,
                } => {
                    if let Some(entry) = self.streams.get_mut(&stream) {
                        entry.ended = true;
                        let what = if remote {
                            "stream reset by client"
                        } else {
                            "stream reset"
                        };
                        entry.shared.lock().fail(Status::new(
                            code_for_reset(code.to_u32()),
                            format!("{what}: {code}"),
                        ));
                    }
                }
                Event::Closed { error } => {
                    if let Some(error) = error {
                        let message = if error.reason.is_empty() {
                            format!("connection error: {}", error.code)
                        } else {
                            format!("connection error: {} ({})", error.code, error.reason)
                        };
                        self.fail_all(&message);
                        self.error.get_or_insert(message);
                    }
                }
                Event::PingAck { payload } if payload == PINGER_PAYLOAD => {
                    if let Some(pinger) = &self.pinger {
                        let mut state = lock_ping(pinger);
                        state.acked = true;
                        if let Some(waker) = state.waker.take() {
                            waker.wake();
                        }
                    }
                }
                // The client opens no more streams; those it has go on. The engine's own
                // PINGs (shutdown) are its business.
                Event::GoAway { .. } | Event::PingAck { .. } | Event::Response { .. } => {}
            }
        }
        any
    }

    fn request(&mut self, stream: StreamId, head: RequestHead, end_stream: bool) {
        let shared = Arc::new(Shared::default());
        shared.lock().end = end_stream;
        let handle = Arc::new(Handle {
            stream,
            shared: shared.clone(),
            commands: self.commands_tx.clone(),
        });
        self.streams.insert(
            stream,
            Entry {
                shared,
                applied: 0,
                ended: false,
            },
        );
        self.accepted.push_back(TernIncoming {
            head: request_parts(head),
            body: TernRecv {
                handle: handle.clone(),
            },
            respond: TernResponder { handle },
        });
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Headers {
                stream,
                status,
                headers,
                end_stream,
            } => {
                if let Some(entry) = self.streams.get_mut(&stream) {
                    entry.ended |= end_stream;
                }
                if let Err(e) = self.conn.send_headers(stream, status, &headers, end_stream) {
                    tracing::debug!(?e, "response headers not sent");
                }
            }
            Command::Data {
                stream,
                data,
                end_stream,
            } => {
                let len = data.len();
                let sent = self.conn.send_data(stream, data, end_stream);
                let Some(entry) = self.streams.get_mut(&stream) else {
                    return;
                };
                entry.ended |= end_stream;
                if sent.is_ok() {
                    if entry.applied == 0 && len > 0 {
                        self.sending.push(stream);
                    }
                    entry.applied += len;
                } else {
                    let mut state = entry.shared.lock();
                    state.unsent = state.unsent.saturating_sub(len);
                    if let Some(waker) = state.send_waker.take() {
                        waker.wake();
                    }
                }
            }
            Command::Trailers { stream, headers } => {
                if let Some(entry) = self.streams.get_mut(&stream) {
                    entry.ended = true;
                }
                if let Err(e) = self.conn.send_trailers(stream, headers) {
                    tracing::debug!(?e, "trailers not sent");
                }
            }
            Command::Reset { stream, code } => {
                if let Some(entry) = self.streams.get_mut(&stream) {
                    entry.ended = true;
                }
                let _ = self.conn.reset(stream, code);
            }
            Command::Release { stream, n } => self.conn.release_capacity(stream, n),
            Command::Ping => self.conn.ping(PINGER_PAYLOAD),
            Command::Done { stream } => {
                self.conn.handler_done(stream);
                if let Some(entry) = self.streams.remove(&stream) {
                    if !entry.ended {
                        // Dropped before the response ended: the call was abandoned.
                        let _ = self.conn.reset(stream, ErrorCode::Cancel);
                    }
                }
            }
        }
    }

    /// Writes the pending batch, taking a new one from the engine when it is written.
    /// `Pending` only when the task gives up its turn for a small batch; `Ready(true)` when
    /// anything was written.
    fn write(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut progress = false;
        loop {
            if (self.out.is_empty() || self.appendable)
                && self.conn.wants_transmit()
                && !self.broken
            {
                self.appendable = false;
                self.batch.clear();
                self.conn.poll_transmit(&mut self.batch);
                self.credit_written();
                for bytes in self.batch.drain(..) {
                    if !bytes.is_empty() {
                        self.out_len += bytes.len();
                        self.out.push_back(bytes);
                    }
                }
                if self.commanded && !self.yielded && self.out_len < MIN_BATCH {
                    self.yielded = true;
                    self.appendable = true;
                    // The batch stays queued; what the other handlers add next turn joins it
                    // (appended after it, in wire order) before it is written.
                    let turn = std::pin::pin!(tokio::task::yield_now());
                    if turn.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
            }
            if self.out.is_empty() {
                break;
            }
            if self.broken {
                self.out.clear();
                self.out_len = 0;
                break;
            }
            let slices: Vec<IoSlice<'_>> =
                self.out.iter().take(64).map(|b| IoSlice::new(b)).collect();
            match Pin::new(&mut self.io).poll_write_vectored(cx, &slices) {
                Poll::Ready(Ok(0)) => {
                    self.broken = true;
                    self.error
                        .get_or_insert_with(|| "write failed: connection closed".to_owned());
                }
                Poll::Ready(Ok(mut n)) => {
                    progress = true;
                    self.needs_flush = true;
                    self.out_len -= n.min(self.out_len);
                    while n > 0 {
                        let Some(front) = self.out.front_mut() else {
                            break;
                        };
                        if n >= front.len() {
                            n -= front.len();
                            self.out.pop_front();
                        } else {
                            front.advance(n);
                            n = 0;
                        }
                    }
                }
                Poll::Ready(Err(e)) => {
                    self.broken = true;
                    self.error.get_or_insert(format!("write failed: {e}"));
                }
                Poll::Pending => break,
            }
        }
        if self.out.is_empty() {
            self.commanded = false;
        }
        if self.needs_flush && !self.broken {
            match Pin::new(&mut self.io).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => {
                    self.broken = true;
                    self.error.get_or_insert(format!("flush failed: {e}"));
                }
                Poll::Pending => {}
            }
        }
        Poll::Ready(progress)
    }

    /// After a transmit: the bytes that left the engine's queues no longer count against
    /// their streams' write quota.
    fn credit_written(&mut self) {
        let conn = &self.conn;
        let streams = &mut self.streams;
        self.sending.retain(|&id| {
            let Some(entry) = streams.get_mut(&id) else {
                return false;
            };
            let queued = conn.queued(id);
            let written = entry.applied.saturating_sub(queued);
            entry.applied = queued;
            if written > 0 {
                let mut state = entry.shared.lock();
                state.unsent = state.unsent.saturating_sub(written);
                if state.unsent < WRITE_QUOTA {
                    if let Some(waker) = state.send_waker.take() {
                        waker.wake();
                    }
                }
            }
            queued > 0
        });
    }

    /// Whether the connection is over and everything is written (the socket then shut down).
    fn finished(&mut self, cx: &mut Context<'_>) -> bool {
        if self.broken {
            return true;
        }
        if !(self.eof || self.conn.is_closed()) {
            return false;
        }
        if !self.out.is_empty() || self.conn.wants_transmit() || self.needs_flush {
            return false;
        }
        // Best effort: the peer may already be gone, and the socket is dropped next anyway.
        let _ = Pin::new(&mut self.io).poll_shutdown(cx);
        true
    }

    /// Arms the timer at the engine's next deadline; true if it had already passed and the
    /// engine has been told (only if `may_fire`; else the task is woken to do it).
    fn poll_timer(&mut self, cx: &mut Context<'_>, may_fire: bool) -> bool {
        let next = self.conn.next_timeout();
        if next != self.timer_at {
            self.timer_at = next;
            if let Some(at) = next {
                self.timer
                    .as_mut()
                    .reset(tokio::time::Instant::from_std(at));
            }
        }
        if self.timer_at.is_none() {
            return false;
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            if !may_fire {
                cx.waker().wake_by_ref();
                return false;
            }
            self.timer_at = None;
            self.conn.handle_timeout(Instant::now());
            return true;
        }
        false
    }

    /// Every stream with a handler (and the pinger) learns the connection is gone.
    fn fail_all(&mut self, message: &str) {
        for entry in self.streams.values() {
            entry
                .shared
                .lock()
                .fail(Status::unavailable(message.to_owned()));
        }
        close_pinger(self.pinger.as_deref());
    }
}

fn close_pinger(pinger: Option<&Mutex<PingState>>) {
    if let Some(pinger) = pinger {
        let mut state = lock_ping(pinger);
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }
}

impl<IO> Drop for ServerDriver<IO> {
    fn drop(&mut self) {
        close_pinger(self.pinger.as_deref());
        for entry in self.streams.values() {
            entry
                .shared
                .lock()
                .fail(Status::unavailable("connection closed"));
        }
    }
}

/// The engine's request head as `http`'s request parts, for the router.
fn request_parts(head: RequestHead) -> http::request::Parts {
    let mut uri = http::uri::Parts::default();
    uri.path_and_query = head.path;
    if let (Some(scheme), Some(authority)) = (head.scheme, head.authority) {
        if let (Ok(scheme), Ok(authority)) = (
            http::uri::Scheme::try_from(&scheme[..]),
            http::uri::Authority::from_maybe_shared(authority),
        ) {
            uri.scheme = Some(scheme);
            uri.authority = Some(authority);
        }
    }
    let uri = http::Uri::from_parts(uri).unwrap_or_default();
    let (mut parts, ()) = http::Request::new(()).into_parts();
    parts.method = head.method;
    parts.uri = uri;
    parts.version = http::Version::HTTP_2;
    parts.headers = head.headers;
    parts
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::time::Duration;

    use bytes::BytesMut;
    use http::{HeaderMap, Method};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// The server driver on a 64-byte pipe, so that nearly every write is partial, against a
    /// client `Connection` driven by hand: a 200 KiB request and a 300 KiB response (past the
    /// 64 KiB write quota and both default windows) arrive whole and in order, trailers after.
    #[tokio::test]
    async fn every_byte_through_a_tiny_pipe() {
        let (server_io, client_io) = tokio::io::duplex(64);
        let server = tokio::spawn(async move {
            let mut driver = ServerDriver::new(server_io, Config::default());
            while let Some(Ok(mut incoming)) = poll_fn(|cx| driver.poll_accept(cx)).await {
                tokio::spawn(async move {
                    let mut received = 0;
                    while let Some(Ok(chunk)) = poll_fn(|cx| incoming.body.poll_chunk(cx)).await {
                        received += chunk.len();
                    }
                    let mut body = incoming
                        .respond
                        .send_headers(Response::new(()))
                        .expect("headers");
                    let response: Vec<u8> = (0..300 * 1024).map(|i| (i % 253) as u8).collect();
                    for piece in response.chunks(10_000) {
                        poll_fn(|cx| body.poll_ready(cx)).await.expect("ready");
                        body.send_now(Bytes::copy_from_slice(piece), false)
                            .expect("data");
                    }
                    let mut trailers = HeaderMap::new();
                    trailers.insert("x-received", received.to_string().parse().unwrap());
                    body.send_trailers(trailers).expect("trailers");
                });
            }
        });

        let now = Instant::now();
        let mut client = Connection::client(Config::default(), now);
        let stream = client
            .open_stream(
                &Method::POST,
                "http",
                "localhost",
                "/x",
                &HeaderMap::new(),
                false,
            )
            .unwrap();
        let request: Bytes = vec![7u8; 200 * 1024].into();
        client.send_data(stream, request, true).unwrap();
        let (mut read, mut write) = tokio::io::split(client_io);
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        let mut trailers = None;
        let exchange = async {
            while trailers.is_none() {
                let mut out = Vec::new();
                while client.wants_transmit() {
                    client.poll_transmit(&mut out);
                }
                let writing = async {
                    for bytes in out {
                        write.write_all(&bytes).await.unwrap();
                    }
                };
                // Write and read at once: the pipe holds 64 bytes.
                let mut chunk = [0u8; 4096];
                let (_, n) = tokio::join!(writing, read.read(&mut chunk));
                let n = n.unwrap();
                assert!(n > 0, "the server closed the connection");
                buf.extend_from_slice(&chunk[..n]);
                client.recv(&mut buf, Instant::now());
                while let Some(event) = client.poll_event() {
                    match event {
                        Event::Data { data, .. } => {
                            client.release_capacity(stream, data.len());
                            body.extend_from_slice(&data);
                        }
                        Event::Trailers { headers, .. } => trailers = Some(headers),
                        Event::Response { status, .. } => assert_eq!(status, StatusCode::OK),
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), exchange)
            .await
            .expect("the exchange finished");
        let expected: Vec<u8> = (0..300 * 1024).map(|i| (i % 253) as u8).collect();
        assert!(body == expected, "the response came changed");
        let trailers = trailers.unwrap();
        assert_eq!(trailers["x-received"], "204800");
        server.abort();
    }
}
