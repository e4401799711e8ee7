//! Stream states and identifiers (RFC 9113 §5.1): which streams exist, in which state, and
//! what a frame on a given stream id means: handle it, discard it, or an error of which kind.
//!
//! [`Streams`] is one connection's store, keyed by stream id and owned by the connection task,
//! so it has no lock. It holds only live streams (open or half-closed); idle and closed ones are
//! not stored but derived, as §5.1.1 allows: of the ids a side may open, those above the highest
//! it has opened are idle and every other one not in the store is closed. A short, bounded list
//! of recently closed streams remembers how each ended, which §5.1 needs to tell a late frame
//! the peer sent before it saw our RST_STREAM (discarded quietly) from a frame on a stream both
//! ends had finished (STREAM_CLOSED).
//!
//! The reserved states belong to server push, which Tern never uses: a server does not push and
//! a client disables it, so PUSH_PROMISE is always a connection error (§8.4) and no stream here
//! is ever reserved. PRIORITY frames may name any stream in any state and change nothing, so
//! they need no answer from the store.

use std::collections::{HashMap, VecDeque};

use super::flow::StreamFlow;
use super::frame::{ErrorCode, H2Error, StreamId, MAX_STREAM_ID};

/// How many recently closed streams are remembered by default. It need only cover the streams
/// closed during one round trip; beyond it a late frame costs a spare RST_STREAM at worst.
pub(crate) const DEFAULT_CLOSED_MEMORY: usize = 256;

/// Which end of the connection this store is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Peers open odd streams with HEADERS; we open none (no push).
    Server,
    /// We open odd streams; the server opens none (push disabled).
    Client,
}

/// The state of a live stream (§5.1). Idle and closed streams are not stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
}

/// How a recently closed stream ended, which decides what a late frame on it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ended {
    /// Both ends sent END_STREAM.
    Finished,
    /// We reset it (or refused it, or ignored it after GOAWAY): the peer may not know yet, so
    /// anything it sends is discarded quietly (§5.1, "closed").
    ResetLocally,
    /// The peer reset it.
    ResetByPeer,
}

/// A live stream: its state, its flow-control windows, and what the connection keeps for it.
#[derive(Debug)]
pub(crate) struct Stream<T> {
    state: State,
    pub(crate) flow: StreamFlow,
    pub(crate) user: T,
}

impl<T> Stream<T> {
    fn new(state: State, user: T) -> Stream<T> {
        Stream {
            state,
            flow: StreamFlow::new(),
            user,
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Whether the peer may still send DATA or trailers on it.
    pub(crate) fn is_recv_open(&self) -> bool {
        self.state != State::HalfClosedRemote
    }

    /// Whether we may still send DATA or trailers on it.
    pub(crate) fn is_send_open(&self) -> bool {
        self.state != State::HalfClosedLocal
    }
}

/// What to do with a received frame, once the store has applied it to the stream's state.
#[derive(Debug)]
pub(crate) enum Recv<T> {
    /// HEADERS opened a new stream, now in the store: a request (server) begins.
    Opened,
    /// The stream is in the store, its state updated: handle the frame on it.
    Live,
    /// The frame ended the stream: it has left the store, and this is what it held.
    Closed(Stream<T>),
    /// Discard the frame, after the minimal processing §5.1 asks for: a header block still
    /// goes through HPACK, and DATA still counts against the connection window.
    Ignore,
}

/// Why a local stream could not be opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS is reached: wait for a stream to close.
    AtLimit,
    /// Every stream id has been used (2^31-1 is the last): open a new connection (§5.1.1).
    Exhausted,
}

/// One connection's streams.
#[derive(Debug)]
pub(crate) struct Streams<T> {
    role: Role,
    live: HashMap<StreamId, Stream<T>>,
    /// The highest stream id the peer has opened (or tried to: refused ones count), 0 if none.
    last_remote: u32,
    /// The id our next stream gets; past `MAX_STREAM_ID` when they are used up.
    next_local: u32,
    /// Live streams the peer opened, counted against our SETTINGS_MAX_CONCURRENT_STREAMS.
    remote_open: u32,
    /// Live streams we opened, counted against the peer's.
    local_open: u32,
    max_remote: u32,
    max_local: u32,
    /// After we sent GOAWAY: the last stream id we still accept.
    accept_until: u32,
    closed: VecDeque<(StreamId, Ended)>,
    closed_memory: usize,
}

fn protocol(reason: &'static str) -> H2Error {
    H2Error::connection(ErrorCode::ProtocolError, reason)
}

impl<T> Streams<T> {
    /// An empty store. `max_remote` is the SETTINGS_MAX_CONCURRENT_STREAMS we advertise; the
    /// peer's is unlimited until its SETTINGS say otherwise (§6.5.2).
    pub(crate) fn new(role: Role, max_remote: u32) -> Streams<T> {
        Streams {
            role,
            live: HashMap::new(),
            last_remote: 0,
            next_local: match role {
                Role::Client => 1,
                Role::Server => 2,
            },
            remote_open: 0,
            local_open: 0,
            max_remote,
            max_local: u32::MAX,
            accept_until: MAX_STREAM_ID,
            closed: VecDeque::new(),
            closed_memory: DEFAULT_CLOSED_MEMORY,
        }
    }

    /// How many recently closed streams to remember (at least 1).
    pub(crate) fn set_closed_memory(&mut self, streams: usize) {
        self.closed_memory = streams.max(1);
        while self.closed.len() > self.closed_memory {
            self.closed.pop_front();
        }
    }

    /// Our SETTINGS_MAX_CONCURRENT_STREAMS: streams past it are refused. Lowering it closes no
    /// stream; new ones are refused until enough have ended.
    pub(crate) fn set_max_remote(&mut self, max: u32) {
        self.max_remote = max;
    }

    /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS, which [`Streams::open_local`] keeps to.
    pub(crate) fn set_max_local(&mut self, max: u32) {
        self.max_local = max;
    }

    /// We sent GOAWAY with `last_stream_id`: HEADERS for streams above it are discarded from
    /// now on, and their later frames too (§6.8).
    pub(crate) fn stop_accepting(&mut self, last_stream_id: StreamId) {
        self.accept_until = self.accept_until.min(last_stream_id.get());
    }

    /// The highest stream id the peer has opened and we accepted (refused ones included, as
    /// they were answered): the last_stream_id of our GOAWAY.
    pub(crate) fn last_remote(&self) -> StreamId {
        StreamId::new(self.last_remote.min(self.accept_until))
    }

    pub(crate) fn get(&self, id: StreamId) -> Option<&Stream<T>> {
        self.live.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: StreamId) -> Option<&mut Stream<T>> {
        self.live.get_mut(&id)
    }

    /// A live stream's send offset, the lookup `Flow::set_peer_initial_window` and
    /// `Flow::tidy` need.
    pub(crate) fn send_offset(&self, id: StreamId) -> Option<i64> {
        self.live.get(&id).map(|s| s.flow.send_offset())
    }

    /// Live streams, in no particular order (for tearing a connection down).
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (StreamId, &mut Stream<T>)> {
        self.live.iter_mut().map(|(id, s)| (*id, s))
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Live streams the peer opened.
    pub(crate) fn remote_open(&self) -> u32 {
        self.remote_open
    }

    /// Whether stream `id` is idle: neither live nor closed. A stream error the frame decoder
    /// raises on an idle stream (a bad PRIORITY, a zero WINDOW_UPDATE) cannot be answered with
    /// RST_STREAM, which §6.4 forbids on idle streams: the connection answers it as a
    /// connection error instead, or drops it.
    pub(crate) fn is_idle_stream(&self, id: StreamId) -> bool {
        !self.live.contains_key(&id) && self.is_idle(id)
    }

    fn is_remote_id(&self, id: StreamId) -> bool {
        id.is_client_initiated() == (self.role == Role::Server)
    }

    /// Whether `id` (not live) is idle: above what its side has opened so far.
    fn is_idle(&self, id: StreamId) -> bool {
        if self.is_remote_id(id) {
            id.get() > self.last_remote
        } else {
            id.get() >= self.next_local
        }
    }

    fn ended(&self, id: StreamId) -> Option<Ended> {
        self.closed
            .iter()
            .rev()
            .find(|(c, _)| *c == id)
            .map(|(_, e)| *e)
    }

    fn remember(&mut self, id: StreamId, ended: Ended) {
        if self.closed.len() >= self.closed_memory {
            self.closed.pop_front();
        }
        self.closed.push_back((id, ended));
    }

    fn close(&mut self, id: StreamId, ended: Ended) -> Option<Stream<T>> {
        let stream = self.live.remove(&id)?;
        if self.is_remote_id(id) {
            self.remote_open -= 1;
        } else {
            self.local_open -= 1;
        }
        self.remember(id, ended);
        Some(stream)
    }

    /// Applies END_STREAM received on a live stream.
    fn recv_end_stream(&mut self, id: StreamId) -> Recv<T> {
        let Some(stream) = self.live.get_mut(&id) else {
            return Recv::Ignore;
        };
        match stream.state {
            State::Open => {
                stream.state = State::HalfClosedRemote;
                Recv::Live
            }
            State::HalfClosedLocal | State::HalfClosedRemote => {
                match self.close(id, Ended::Finished) {
                    Some(stream) => Recv::Closed(stream),
                    None => Recv::Ignore,
                }
            }
        }
    }

    /// A HEADERS frame (with its CONTINUATIONs: the decoder ties them to it) on stream `id`.
    /// Opens a stream with `make`'s value when the peer may open one, or applies END_STREAM to
    /// a live one (trailers, or a response). Whether the header list itself is valid for its
    /// place (request, response, trailers) is the connection's to check.
    ///
    /// A stream error here still leaves the header block to decode: HPACK must see it.
    pub(crate) fn recv_headers(
        &mut self,
        id: StreamId,
        end_stream: bool,
        make: impl FnOnce() -> T,
    ) -> Result<Recv<T>, H2Error> {
        if let Some(stream) = self.live.get(&id) {
            if stream.state == State::HalfClosedRemote {
                return Err(H2Error::stream(
                    id,
                    ErrorCode::StreamClosed,
                    "HEADERS after END_STREAM",
                ));
            }
            return Ok(if end_stream {
                self.recv_end_stream(id)
            } else {
                Recv::Live
            });
        }
        if !self.is_idle(id) {
            return match self.ended(id) {
                Some(Ended::ResetLocally) => Ok(Recv::Ignore),
                Some(_) => Err(H2Error::connection(
                    ErrorCode::StreamClosed,
                    "HEADERS on a closed stream",
                )),
                None if self.is_remote_id(id) => Err(protocol("stream id not increasing")),
                None => Err(H2Error::connection(
                    ErrorCode::StreamClosed,
                    "HEADERS on a closed stream",
                )),
            };
        }
        if !self.is_remote_id(id) || self.role == Role::Client {
            // A client that sends an even id, or a server opening a stream without push.
            return Err(protocol("HEADERS opening a stream the peer may not open"));
        }
        // First use of an id closes every idle id below it (§5.1.1).
        self.last_remote = id.get();
        if id.get() > self.accept_until {
            self.remember(id, Ended::ResetLocally);
            return Ok(Recv::Ignore);
        }
        if self.remote_open >= self.max_remote {
            // The reset we send makes it closed; its late frames are discarded.
            self.remember(id, Ended::ResetLocally);
            return Err(H2Error::stream(
                id,
                ErrorCode::RefusedStream,
                "over SETTINGS_MAX_CONCURRENT_STREAMS",
            ));
        }
        let state = if end_stream {
            State::HalfClosedRemote
        } else {
            State::Open
        };
        self.live.insert(id, Stream::new(state, make()));
        self.remote_open += 1;
        Ok(Recv::Opened)
    }

    /// A DATA frame on stream `id`. Whatever the answer, the frame still counts against the
    /// connection window (§6.9).
    pub(crate) fn recv_data(&mut self, id: StreamId, end_stream: bool) -> Result<Recv<T>, H2Error> {
        if let Some(stream) = self.live.get(&id) {
            if stream.state == State::HalfClosedRemote {
                return Err(H2Error::stream(
                    id,
                    ErrorCode::StreamClosed,
                    "DATA after END_STREAM",
                ));
            }
            return Ok(if end_stream {
                self.recv_end_stream(id)
            } else {
                Recv::Live
            });
        }
        if self.is_idle(id) {
            return Err(protocol("DATA on an idle stream"));
        }
        match self.ended(id) {
            Some(Ended::ResetLocally) => Ok(Recv::Ignore),
            _ => Err(H2Error::stream(
                id,
                ErrorCode::StreamClosed,
                "DATA on a closed stream",
            )),
        }
    }

    /// A RST_STREAM on stream `id`: a live stream closes and is handed back.
    pub(crate) fn recv_reset(&mut self, id: StreamId) -> Result<Recv<T>, H2Error> {
        if let Some(stream) = self.close(id, Ended::ResetByPeer) {
            return Ok(Recv::Closed(stream));
        }
        if self.is_idle(id) {
            return Err(protocol("RST_STREAM on an idle stream"));
        }
        Ok(Recv::Ignore)
    }

    /// A WINDOW_UPDATE on stream `id` (not 0): handled on a live stream, discarded on a closed
    /// one (the peer may send it before it sees our END_STREAM or RST_STREAM, §5.1).
    pub(crate) fn recv_window_update(&mut self, id: StreamId) -> Result<Recv<T>, H2Error> {
        if self.live.contains_key(&id) {
            return Ok(Recv::Live);
        }
        if self.is_idle(id) {
            return Err(protocol("WINDOW_UPDATE on an idle stream"));
        }
        Ok(Recv::Ignore)
    }

    /// Opens a stream of ours (a client's request): HEADERS go out on the id returned.
    pub(crate) fn open_local(&mut self, end_stream: bool, user: T) -> Result<StreamId, OpenError> {
        if self.next_local > MAX_STREAM_ID {
            return Err(OpenError::Exhausted);
        }
        if self.local_open >= self.max_local {
            return Err(OpenError::AtLimit);
        }
        let id = StreamId::new(self.next_local);
        // At most 2^31+1: no overflow, and past MAX_STREAM_ID means used up.
        self.next_local += 2;
        let state = if end_stream {
            State::HalfClosedLocal
        } else {
            State::Open
        };
        self.live.insert(id, Stream::new(state, user));
        self.local_open += 1;
        Ok(id)
    }

    /// We sent END_STREAM (on DATA, or on HEADERS as trailers or a Trailers-Only response).
    /// Returns the stream if that closed it. Nothing happens on a stream that is not live or
    /// already half-closed (local).
    pub(crate) fn send_end_stream(&mut self, id: StreamId) -> Option<Stream<T>> {
        let stream = self.live.get_mut(&id)?;
        match stream.state {
            State::Open => {
                stream.state = State::HalfClosedLocal;
                None
            }
            State::HalfClosedRemote => self.close(id, Ended::Finished),
            State::HalfClosedLocal => None,
        }
    }

    /// We sent RST_STREAM: the stream closes (if live) and is handed back, and whatever the
    /// peer sent before it sees the reset will be discarded.
    pub(crate) fn send_reset(&mut self, id: StreamId) -> Option<Stream<T>> {
        let stream = self.close(id, Ended::ResetLocally);
        if stream.is_none() && !self.is_idle(id) && self.ended(id) != Some(Ended::ResetLocally) {
            self.remember(id, Ended::ResetLocally);
        }
        stream
    }

    #[cfg(test)]
    fn set_next_local(&mut self, id: u32) {
        self.next_local = id;
    }
}

#[cfg(test)]
mod tests;
