//! One HTTP/2 connection as a sans-IO state machine (quinn-proto's shape): the caller hands in
//! the bytes it read and the time, takes out [`Event`]s and the bytes to write, issues commands
//! (send headers, data, trailers, reset, ping, GOAWAY) and asks when to call back. Nothing here
//! owns a socket, a runtime or a clock, so every rule is a deterministic test on a fake clock.
//!
//! This file owns the API's types (the configuration, the events, the connection's state), the
//! constructors and the queries. The commands are in [`commands`], the timers in [`timers`],
//! the receive path (preface, frames, header blocks) in [`recv`], the send path (DATA
//! scheduling and the transmit batch) in [`send`], request and response header rules (RFC
//! 9113 §8.2–8.3) in [`headers`], and the flood budgets and ping policy in [`limits`].

mod bdp;
mod commands;
mod headers;
pub(crate) mod limits;
mod recv;
mod send;
mod timers;

#[cfg(test)]
mod tests;

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, StatusCode};

use super::flow::{Flow, DEFAULT_WINDOW};
use super::frame::decode::Decoder as FrameDecoder;
use super::frame::{
    encode, ErrorCode, Settings, StreamId, DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE,
    MAX_WINDOW_SIZE,
};
use super::hpack::decoder::{Decoder as HpackDecoder, HeaderField};
use super::hpack::encoder::{EncodeField, Encoder as HpackEncoder};
use super::stream::{OpenError, Role, Streams};

use self::bdp::Bdp;
use self::limits::{Budgets, Limits, PingPolicy};

/// The client connection preface (RFC 9113 §3.4), which a SETTINGS frame must follow.
pub(crate) const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The payload of the PING that the first GOAWAY of a graceful shutdown is followed by.
const SHUTDOWN_PING: [u8; 8] = *b"tern-gwy";

/// The payload of our keepalive PINGs.
const KEEPALIVE_PING: [u8; 8] = *b"tern-kal";

/// What one connection advertises and how long it waits.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Our SETTINGS_MAX_CONCURRENT_STREAMS: always advertised (h2 advertised none, and one
    /// connection opened 200,000 streams).
    pub(crate) max_concurrent_streams: u32,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE.
    pub(crate) initial_stream_window: u32,
    /// The connection receive window we keep open (a WINDOW_UPDATE after the SETTINGS when it
    /// is above 65,535).
    pub(crate) initial_connection_window: u32,
    /// Our SETTINGS_MAX_FRAME_SIZE.
    pub(crate) max_frame_size: u32,
    /// Our SETTINGS_MAX_HEADER_LIST_SIZE: a larger request is refused, and a header block
    /// over twice it (compressed) ends the connection.
    pub(crate) max_header_list_size: u32,
    /// How long the peer has, from the start, to finish its preface and first SETTINGS.
    pub(crate) handshake_timeout: Duration,
    /// How long the peer has to acknowledge our SETTINGS (§6.5.3).
    pub(crate) settings_ack_timeout: Duration,
    /// How long a header block may stay unfinished (HEADERS without END_HEADERS).
    pub(crate) header_block_timeout: Duration,
    /// How long a graceful shutdown waits for the PING after its first GOAWAY.
    pub(crate) shutdown_ping_timeout: Duration,
    /// Keepalive: after this long without a frame from the peer, we send a PING (grpc-go's
    /// `Time`; `None` is off). A client's doubles when the server answers GOAWAY
    /// "too_many_pings".
    pub(crate) keepalive_interval: Option<Duration>,
    /// How long that PING may go unacknowledged before the connection is closed.
    pub(crate) keepalive_timeout: Duration,
    /// BDP estimation (grpc-go's): the receive windows grow to the measured bandwidth-delay
    /// product, up to this many bytes (grpc-go: 16 MiB). `None` keeps the windows static.
    pub(crate) bdp_limit: Option<u32>,
    /// About how many bytes one [`Connection::poll_transmit`] hands out at most (control
    /// frames and header blocks always go whole; DATA stops once the batch is this large).
    pub(crate) max_batch_bytes: usize,
    /// The flood budgets and the ping policy.
    pub(crate) limits: Limits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_concurrent_streams: 1024,
            initial_stream_window: 1024 * 1024,
            initial_connection_window: 2 * 1024 * 1024,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 16 * 1024,
            handshake_timeout: Duration::from_secs(10),
            settings_ack_timeout: Duration::from_secs(10),
            header_block_timeout: Duration::from_secs(10),
            shutdown_ping_timeout: Duration::from_secs(5),
            keepalive_interval: Some(Duration::from_secs(2 * 60 * 60)),
            keepalive_timeout: Duration::from_secs(20),
            bdp_limit: None,
            max_batch_bytes: 256 * 1024,
            limits: Limits::default(),
        }
    }
}

impl Config {
    /// CONTINUATION frames allowed in one header block: max(1.25 × header list / frame, 5),
    /// h2 0.4.4's rule against CONTINUATION floods.
    pub(crate) fn max_continuations(&self) -> u32 {
        let frame = self.max_frame_size.max(1) as u64;
        let by_size = (self.max_header_list_size as u64 * 5 / 4) / frame;
        by_size.clamp(5, u32::MAX as u64) as u32
    }

    /// The most bytes a header block (compressed, joined across CONTINUATION) may have.
    pub(crate) fn max_header_block_bytes(&self) -> usize {
        (self.max_header_list_size as usize)
            .saturating_mul(2)
            .max(self.max_frame_size as usize)
    }
}

/// A request's head: the pseudo-headers parsed, the rest as a `HeaderMap`.
#[derive(Debug, PartialEq)]
pub(crate) struct RequestHead {
    pub(crate) method: Method,
    pub(crate) scheme: Option<Bytes>,
    pub(crate) authority: Option<Bytes>,
    /// `None` only for CONNECT, which has no `:path` (§8.5).
    pub(crate) path: Option<PathAndQuery>,
    pub(crate) headers: HeaderMap,
}

/// How a connection ended, when it did not end cleanly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ConnectionError {
    pub(crate) code: ErrorCode,
    /// The GOAWAY debug text we sent.
    pub(crate) reason: &'static str,
}

/// What the connection has to tell the application.
#[derive(Debug, PartialEq)]
pub(crate) enum Event {
    /// A server's new stream: a request head that passed RFC 9113 §8.2–8.3.
    Request {
        stream: StreamId,
        head: RequestHead,
        end_stream: bool,
    },
    /// A client's stream got its response head.
    Response {
        stream: StreamId,
        status: StatusCode,
        headers: HeaderMap,
        end_stream: bool,
    },
    /// Body bytes; release them with [`Connection::release_capacity`] once consumed.
    Data {
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    },
    /// Trailers, which end the peer's side of the stream.
    Trailers {
        stream: StreamId,
        headers: HeaderMap,
    },
    /// A stream the application knows ended abnormally: reset by the peer (`remote`), or by
    /// this connection because the peer broke a rule on it.
    Reset {
        stream: StreamId,
        code: ErrorCode,
        remote: bool,
    },
    /// The peer sent GOAWAY: it opens no more streams (server) or processes none above
    /// `last_stream_id` (client; those streams got a `Reset` with REFUSED_STREAM).
    GoAway {
        last_stream_id: StreamId,
        code: ErrorCode,
        debug_data: Bytes,
    },
    /// The answer to a [`Connection::ping`].
    PingAck { payload: [u8; 8] },
    /// The connection is over: write what [`Connection::poll_transmit`] still gives, then
    /// close the socket. `None` after a graceful shutdown with no stream left.
    Closed { error: Option<ConnectionError> },
}

/// Why a command could not be carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SendError {
    /// The stream is not live (never opened, finished, or reset).
    UnknownStream,
    /// Headers, data or trailers out of order: headers twice, data before headers, anything
    /// after END_STREAM.
    OutOfOrder,
    /// The connection has closed.
    Closed,
    /// A client could not open a stream.
    Open(OpenError),
}

/// How far the handshake has got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Server: this many bytes of the client preface have matched.
    Preface(usize),
    /// The peer's first frame, which must be SETTINGS, has not come yet.
    FirstSettings,
    Open,
}

/// Where our GOAWAY stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    None,
    /// GOAWAY(2^31-1) and a PING are out; the real GOAWAY follows the ack or this deadline.
    Draining {
        deadline: Instant,
    },
    /// The GOAWAY with the real last stream id is out.
    Sent,
}

/// A header block being joined across CONTINUATION frames.
#[derive(Debug)]
struct PartialBlock {
    stream: StreamId,
    end_stream: bool,
    /// A stream error the HEADERS frame itself carried (self-dependency), raised after HPACK.
    priority_error: bool,
    buf: BytesMut,
    continuations: u32,
    deadline: Instant,
}

/// Where a stream is in the send scheduler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Sched {
    /// Nothing queued (or not yet noticed).
    #[default]
    Idle,
    /// In the ready queue.
    Ready,
    /// Data queued but a window is 0: in the blocked list until a WINDOW_UPDATE.
    Blocked,
}

/// What the connection keeps per stream (the store's `T`).
#[derive(Debug, Default)]
struct StreamData {
    /// The application knows the stream (it got the Request, or opened it).
    announced: bool,
    /// The peer's head (request or response) came; the next HEADERS are trailers.
    head_received: bool,
    content_length: Option<u64>,
    received: u64,
    head_sent: bool,
    queue: VecDeque<Bytes>,
    queued: usize,
    /// END_STREAM goes out after the queue (on the last DATA, or on the trailers).
    end_queued: bool,
    trailers: Option<HeaderMap>,
    sched: Sched,
    /// In the blocked list (an entry may outlive the Blocked state, but never doubles), so
    /// the list stays bounded by the live streams however many WINDOW_UPDATEs come.
    in_blocked: bool,
}

/// One HTTP/2 connection, either role.
#[derive(Debug)]
pub(crate) struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    handshake_deadline: Option<Instant>,
    /// When the peer's last frame came (keepalive counts silence from here).
    last_frame_at: Instant,
    /// Our keepalive PING is out, and its ack is due by then.
    keepalive_deadline: Option<Instant>,
    frames: FrameDecoder,
    hpack_dec: HpackDecoder,
    hpack_enc: HpackEncoder,
    flow: Flow,
    streams: Streams<StreamData>,
    events: VecDeque<Event>,
    /// Control frames and header blocks waiting for `poll_transmit`, in wire order.
    out: BytesMut,
    /// Scratch space for one encoded header block.
    scratch: BytesMut,
    fields: Vec<HeaderField>,
    ready: VecDeque<StreamId>,
    blocked: Vec<StreamId>,
    block: Option<PartialBlock>,
    peer_max_frame_size: u32,
    /// Our SETTINGS not yet acknowledged, oldest first, and when each ack is due.
    unacked_settings: VecDeque<(Settings, Instant)>,
    bdp: Option<Bdp>,
    /// Frames queued in answer to the peer (acks, resets) since the last `poll_transmit`.
    peer_triggered: usize,
    shutdown: Shutdown,
    budgets: Budgets,
    pings: PingPolicy,
    /// Streams whose Request event went out and whose handler has not returned
    /// ([`Connection::handler_done`]), reset or not.
    running: HashSet<StreamId>,
    /// Reading stopped before a HEADERS that would start one handler too many.
    paused_at_headers: bool,
    closed: bool,
}

impl Connection {
    /// A server connection: our SETTINGS is queued at once, and the client's preface and
    /// SETTINGS are due within `config.handshake_timeout`.
    pub(crate) fn server(config: Config, now: Instant) -> Connection {
        Connection::new(Role::Server, config, now)
    }

    /// A client connection: the preface and our SETTINGS are queued at once; open streams
    /// with [`Connection::open_stream`].
    pub(crate) fn client(config: Config, now: Instant) -> Connection {
        Connection::new(Role::Client, config, now)
    }

    fn new(role: Role, mut config: Config, now: Instant) -> Connection {
        config.max_frame_size = config
            .max_frame_size
            .clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE);
        config.initial_stream_window = config.initial_stream_window.min(MAX_WINDOW_SIZE);
        config.initial_connection_window = config.initial_connection_window.min(MAX_WINDOW_SIZE);
        let mut conn = Connection {
            role,
            phase: match role {
                Role::Server => Phase::Preface(0),
                Role::Client => Phase::FirstSettings,
            },
            handshake_deadline: now.checked_add(config.handshake_timeout),
            last_frame_at: now,
            keepalive_deadline: None,
            frames: FrameDecoder::new(),
            hpack_dec: HpackDecoder::new(),
            hpack_enc: HpackEncoder::new(),
            flow: Flow::new(),
            streams: Streams::new(role, config.max_concurrent_streams),
            events: VecDeque::new(),
            out: BytesMut::new(),
            scratch: BytesMut::new(),
            fields: Vec::new(),
            ready: VecDeque::new(),
            blocked: Vec::new(),
            block: None,
            peer_max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            unacked_settings: VecDeque::new(),
            bdp: config
                .bdp_limit
                .map(|limit| Bdp::new(config.initial_stream_window, limit)),
            peer_triggered: 0,
            shutdown: Shutdown::None,
            budgets: Budgets::new(&config.limits, now),
            pings: PingPolicy::default(),
            running: HashSet::new(),
            paused_at_headers: false,
            closed: false,
            config,
        };
        if role == Role::Client {
            conn.out.extend_from_slice(PREFACE);
        }
        let settings = Settings {
            enable_push: (role == Role::Client).then_some(false),
            max_concurrent_streams: Some(conn.config.max_concurrent_streams),
            initial_window_size: (conn.config.initial_stream_window != DEFAULT_WINDOW)
                .then_some(conn.config.initial_stream_window),
            max_frame_size: (conn.config.max_frame_size != DEFAULT_MAX_FRAME_SIZE)
                .then_some(conn.config.max_frame_size),
            max_header_list_size: Some(conn.config.max_header_list_size),
            ..Settings::default()
        };
        encode::settings(&mut conn.out, &settings);
        // A larger frame size applies as soon as the setting is out; a smaller one, never
        // configured below the default, would wait for the ack.
        conn.frames.set_max_frame_size(conn.config.max_frame_size);
        let ack_deadline = now
            .checked_add(conn.config.settings_ack_timeout)
            .unwrap_or(now);
        conn.unacked_settings.push_back((settings, ack_deadline));
        if let Some(increment) = conn
            .flow
            .set_connection_recv_window(conn.config.initial_connection_window)
        {
            encode::window_update(&mut conn.out, StreamId::CONNECTION, increment);
        }
        conn
    }

    /// The next event, if any. Call it after every `recv` and command until it gives `None`.
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        self.maybe_finish();
        self.events.pop_front()
    }

    /// Whether the connection has closed (after `Event::Closed`; what `poll_transmit` still
    /// holds should be written before the socket is closed).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether `recv` would read more: false while too many answers to the peer wait for
    /// `poll_transmit` (the peer may be flooding us without reading), when the next frame
    /// opens a stream while as many handlers run as SETTINGS_MAX_CONCURRENT_STREAMS allows
    /// streams (a peer that resets its streams at once cannot make us start more: grpc-go's
    /// rapid-reset defence; frames before that HEADERS, such as the running streams' DATA and
    /// resets, are read), or after the close.
    /// The driver stops reading the socket then, which pushes back on the peer.
    pub(crate) fn wants_read(&self) -> bool {
        self.may_read() && !self.paused_at_headers
    }

    fn may_read(&self) -> bool {
        !self.closed && self.peer_triggered < self.config.limits.max_queued_control
    }

    /// Whether a new stream may start another handler now.
    fn handlers_at_limit(&self) -> bool {
        self.config.limits.pause_at_handlers
            && self.running.len() >= self.config.max_concurrent_streams as usize
    }

    /// Whether `poll_transmit` has something to hand out.
    pub(crate) fn wants_transmit(&self) -> bool {
        !self.out.is_empty() || (!self.closed && !self.ready.is_empty())
    }

    /// Bytes queued by `send_data` on the stream and not yet handed to `poll_transmit`:
    /// the driver's per-stream write quota (backpressure on a handler) reads this.
    pub(crate) fn queued(&self, stream: StreamId) -> usize {
        self.streams.get(stream).map_or(0, |s| s.user.queued)
    }

    /// How many streams are live.
    pub(crate) fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Puts a stream with something to send in the ready queue.
    fn schedule(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.get_mut(stream) {
            if s.user.sched == Sched::Idle {
                s.user.sched = Sched::Ready;
                self.ready.push_back(stream);
            }
        }
    }

    /// Every blocked stream back in the ready queue (the connection window or the peer's
    /// initial window grew).
    fn unblock_all(&mut self) {
        for id in self.blocked.drain(..) {
            if let Some(s) = self.streams.get_mut(id) {
                s.user.in_blocked = false;
                if s.user.sched == Sched::Blocked {
                    s.user.sched = Sched::Ready;
                    self.ready.push_back(id);
                }
            }
        }
    }

    /// We sent END_STREAM on the stream.
    fn end_sent(&mut self, stream: StreamId) {
        if let Some(s) = self.streams.get_mut(stream) {
            s.user.end_queued = true;
            s.user.queue.clear();
            s.user.queued = 0;
        }
        self.sent_end_stream(stream);
    }

    /// END_STREAM went out. A server whose response is complete while the request is not
    /// sends RST_STREAM(NO_ERROR) so the client stops sending (RFC 9113 §8.1, as grpc-go
    /// does): the stream's slot frees now instead of when the client finishes.
    fn sent_end_stream(&mut self, stream: StreamId) {
        if self.streams.send_end_stream(stream).is_none()
            && self.role == Role::Server
            && self.streams.send_reset(stream).is_some()
        {
            encode::rst_stream(&mut self.out, stream, ErrorCode::NoError);
        }
    }

    /// The application's handler for `stream` has returned: one fewer counted against
    /// SETTINGS_MAX_CONCURRENT_STREAMS for pausing reads (see [`Limits::pause_at_handlers`]).
    pub(crate) fn handler_done(&mut self, stream: StreamId) {
        self.running.remove(&stream);
        if !self.handlers_at_limit() {
            self.paused_at_headers = false;
        }
    }
}

/// A `HeaderMap`'s fields as the encoder takes them.
fn fields_of(headers: &HeaderMap) -> impl Iterator<Item = EncodeField<'_>> {
    headers.iter().map(|(name, value)| EncodeField {
        name: name.as_str().as_bytes(),
        value: value.as_bytes(),
        sensitive: value.is_sensitive(),
    })
}

/// Encodes a header block and frames it as HEADERS + CONTINUATION into `out`. Blocks must
/// be encoded in the order they go on the wire, which is why trailers are encoded only when
/// they are written.
fn encode_block<'a>(
    encoder: &mut HpackEncoder,
    scratch: &mut BytesMut,
    out: &mut BytesMut,
    stream: StreamId,
    fields: impl IntoIterator<Item = EncodeField<'a>>,
    end_stream: bool,
    max_frame_size: u32,
) {
    scratch.clear();
    encoder.encode(fields, scratch);
    encode::headers(out, stream, scratch, end_stream, max_frame_size);
}
