//! The receive path: the client preface, the first SETTINGS, then every frame applied to the
//! streams, the windows and HPACK, in the order the layers' notes ask for. Header blocks are
//! joined across CONTINUATION (capped in frames and bytes, and timed out) and decoded with
//! HPACK every time, even for a stream the store ignores, so the two tables never part.
//! Stream errors become RST_STREAM (counted against the local-reset budget); connection errors
//! become GOAWAY.

use std::time::Instant;

use bytes::{Buf, BytesMut};

use super::super::frame::{
    kind, ErrorCode, Frame, FrameHeader, GoAway, H2Error, Settings, StreamId, HEADER_LEN,
    MAX_WINDOW_SIZE,
};
use super::super::hpack::encoder::EncodeField;
use super::super::stream::{Recv, Role};
use super::bdp::BDP_PING;
use super::{
    encode, encode_block, headers, Connection, Event, PartialBlock, Phase, Sched, Shutdown,
    StreamData, KEEPALIVE_PING, PREFACE, SHUTDOWN_PING,
};

/// What a finished header block is for its stream.
struct Block {
    /// The application knows the stream.
    announced: bool,
    /// A request or response head, not trailers.
    first: bool,
    /// The DATA so far matched the declared content-length (for trailers).
    length_ok: bool,
}

fn calm(reason: &'static str) -> H2Error {
    H2Error::connection(ErrorCode::EnhanceYourCalm, reason)
}

fn protocol(reason: &'static str) -> H2Error {
    H2Error::connection(ErrorCode::ProtocolError, reason)
}

fn malformed(id: StreamId, reason: &'static str) -> H2Error {
    H2Error::stream(id, ErrorCode::ProtocolError, reason)
}

impl Connection {
    /// Reads what `bytes` holds: every whole frame is consumed and applied, a partial one is
    /// left for the next call. Reading pauses (bytes stay in the buffer) while too many
    /// answers wait for `poll_transmit`; see [`Connection::wants_read`]. After the close the
    /// buffer is discarded.
    pub(crate) fn recv(&mut self, bytes: &mut BytesMut, now: Instant) {
        if self.closed {
            bytes.clear();
            return;
        }
        if let Phase::Preface(matched) = self.phase {
            let want = &PREFACE[matched..];
            let n = want.len().min(bytes.len());
            if bytes[..n] != want[..n] {
                self.fail(ErrorCode::ProtocolError, "invalid connection preface");
                bytes.clear();
                return;
            }
            bytes.advance(n);
            self.phase = if matched + n == PREFACE.len() {
                Phase::FirstSettings
            } else {
                Phase::Preface(matched + n)
            };
            if matches!(self.phase, Phase::Preface(_)) {
                return;
            }
        }
        let mut window_updates = false;
        while self.may_read() {
            if self.opens_stream_at_handler_limit(bytes) {
                self.paused_at_headers = true;
                break;
            }
            let result = match self.frames.decode(bytes) {
                Ok(Some(frame)) => {
                    self.last_frame_at = now;
                    window_updates |= matches!(frame, Frame::WindowUpdate { .. });
                    self.on_frame(frame, now)
                }
                Ok(None) => break,
                Err(err) => {
                    if !err.is_connection_error() && !self.budgets.glitches.take(now) {
                        Err(calm("too_many_glitches"))
                    } else {
                        Err(err)
                    }
                }
            };
            if let Err(err) = result {
                self.on_error(err, now);
            }
        }
        if self.closed {
            bytes.clear();
            return;
        }
        if let Some(increment) = self.flow.connection_window_update() {
            encode::window_update(&mut self.out, StreamId::CONNECTION, increment);
        }
        if window_updates {
            let streams = &self.streams;
            self.flow.tidy(|id| streams.send_offset(id));
        }
    }

    /// Whether the next frame is a HEADERS opening a stream while every handler slot is
    /// taken: reading stops in front of it (a header block is contiguous, so nothing of it
    /// has been read).
    fn opens_stream_at_handler_limit(&self, bytes: &BytesMut) -> bool {
        let Some(head) = bytes.first_chunk::<HEADER_LEN>() else {
            return false;
        };
        let head = FrameHeader::parse(head);
        // A HEADERS the store would refuse (its slots all taken) is read and refused: that
        // costs no handler, and h2spec 5.1.2 wants the REFUSED_STREAM.
        head.kind == kind::HEADERS
            && self.role == Role::Server
            && self.handlers_at_limit()
            && self.streams.remote_open() < self.config.max_concurrent_streams
            && self.streams.is_idle_stream(head.stream_id)
    }

    fn on_error(&mut self, err: H2Error, now: Instant) {
        match err {
            H2Error::Connection { code, reason } => self.fail(code, reason),
            H2Error::Stream { id, code, reason } => {
                // No RST_STREAM on an idle stream (§6.4): the error is the connection's.
                if self.streams.is_idle_stream(id) {
                    self.fail(code, reason);
                } else if !self.budgets.local_resets.take(now) {
                    self.fail(ErrorCode::EnhanceYourCalm, "too_many_internal_resets");
                } else {
                    self.reset_for_peer(id, code);
                }
            }
        }
    }

    /// A reset we send because of the peer: counted as an answer waiting for transmit.
    fn reset_for_peer(&mut self, id: StreamId, code: ErrorCode) {
        let announced = self.streams.get(id).is_some_and(|s| s.user.announced);
        self.streams.send_reset(id);
        encode::rst_stream(&mut self.out, id, code);
        self.peer_triggered += 1;
        if announced {
            self.events.push_back(Event::Reset {
                stream: id,
                code,
                remote: false,
            });
        }
    }

    fn on_frame(&mut self, frame: Frame, now: Instant) -> Result<(), H2Error> {
        if self.phase == Phase::FirstSettings {
            if !matches!(frame, Frame::Settings(_)) {
                return Err(protocol("first frame not SETTINGS"));
            }
            self.phase = Phase::Open;
        }
        match frame {
            Frame::Data(data) => self.on_data(data, now),
            Frame::Headers(headers) => {
                let priority_error = headers.stream_error().is_some();
                if headers.end_headers {
                    self.check_block_size(headers.fragment.len())?;
                    self.finish_block(
                        headers.stream_id,
                        headers.end_stream,
                        priority_error,
                        &headers.fragment,
                    )
                } else {
                    self.check_block_size(headers.fragment.len())?;
                    self.block = Some(PartialBlock {
                        stream: headers.stream_id,
                        end_stream: headers.end_stream,
                        priority_error,
                        buf: BytesMut::from(&headers.fragment[..]),
                        continuations: 0,
                        deadline: now
                            .checked_add(self.config.header_block_timeout)
                            .unwrap_or(now),
                    });
                    Ok(())
                }
            }
            Frame::Continuation {
                end_headers,
                fragment,
                ..
            } => {
                let max_continuations = self.config.max_continuations();
                let max_bytes = self.config.max_header_block_bytes();
                let Some(block) = self.block.as_mut() else {
                    return Err(protocol("CONTINUATION without a header block"));
                };
                block.continuations += 1;
                if block.continuations > max_continuations {
                    return Err(calm("too_many_continuations"));
                }
                if block.buf.len() + fragment.len() > max_bytes {
                    return Err(calm("header_block_too_large"));
                }
                block.buf.extend_from_slice(&fragment);
                if !end_headers {
                    return Ok(());
                }
                let Some(block) = self.block.take() else {
                    return Ok(());
                };
                self.finish_block(
                    block.stream,
                    block.end_stream,
                    block.priority_error,
                    &block.buf,
                )
            }
            Frame::Priority { .. } | Frame::Unknown { .. } => {
                if self.budgets.glitches.take(now) {
                    Ok(())
                } else {
                    Err(calm("too_many_glitches"))
                }
            }
            Frame::RstStream { stream_id, code } => {
                if !self.budgets.peer_resets.take(now) {
                    return Err(calm("too_many_resets"));
                }
                if let Recv::Closed(stream) = self.streams.recv_reset(stream_id)? {
                    if stream.user.announced {
                        self.events.push_back(Event::Reset {
                            stream: stream_id,
                            code,
                            remote: true,
                        });
                    }
                }
                Ok(())
            }
            Frame::Settings(settings) => self.on_settings(settings),
            Frame::SettingsAck => {
                if let Some((settings, _)) = self.unacked_settings.pop_front() {
                    if let Some(size) = settings.initial_window_size {
                        self.flow.set_local_initial_window(size);
                    }
                }
                Ok(())
            }
            Frame::PushPromise(_) => Err(protocol("PUSH_PROMISE received")),
            Frame::Ping { ack: true, payload } => {
                if payload == SHUTDOWN_PING {
                    if let Shutdown::Draining { .. } = self.shutdown {
                        self.final_goaway(ErrorCode::NoError, b"");
                    }
                } else if payload == KEEPALIVE_PING {
                    self.keepalive_deadline = None;
                } else if payload == BDP_PING {
                    if let Some(window) = self.bdp.as_mut().and_then(|bdp| bdp.on_ack(now)) {
                        self.grow_windows(window, now);
                    }
                } else {
                    self.events.push_back(Event::PingAck { payload });
                }
                Ok(())
            }
            Frame::Ping {
                ack: false,
                payload,
            } => {
                encode::ping(&mut self.out, payload, true);
                self.peer_triggered += 1;
                if self.role == Role::Server {
                    let has_streams = !self.streams.is_empty();
                    if !self.pings.on_ping(&self.config.limits, now, has_streams) {
                        return Err(calm("too_many_pings"));
                    }
                }
                Ok(())
            }
            Frame::GoAway(goaway) => {
                self.on_goaway(goaway);
                Ok(())
            }
            Frame::WindowUpdate {
                stream_id,
                increment,
            } => {
                if stream_id.is_connection() {
                    self.flow.recv_connection_window_update(increment)?;
                    self.unblock_all();
                    return Ok(());
                }
                if let Recv::Live = self.streams.recv_window_update(stream_id)? {
                    if let Some(s) = self.streams.get_mut(stream_id) {
                        self.flow
                            .recv_stream_window_update(&mut s.flow, stream_id, increment)?;
                        if s.user.sched == Sched::Blocked {
                            s.user.sched = Sched::Ready;
                            self.ready.push_back(stream_id);
                        }
                    }
                }
                Ok(())
            }
        }
    }

    /// The BDP estimate grew to `window`: the connection window opens to it at once and the
    /// streams' with a new SETTINGS_INITIAL_WINDOW_SIZE (applied at its ack).
    fn grow_windows(&mut self, window: u32, now: Instant) {
        let window = window.min(MAX_WINDOW_SIZE);
        if window > self.config.initial_stream_window {
            self.config.initial_stream_window = window;
            let settings = Settings {
                initial_window_size: Some(window),
                ..Settings::default()
            };
            encode::settings(&mut self.out, &settings);
            let deadline = now
                .checked_add(self.config.settings_ack_timeout)
                .unwrap_or(now);
            self.unacked_settings.push_back((settings, deadline));
        }
        if window > self.config.initial_connection_window {
            self.config.initial_connection_window = window;
            if let Some(increment) = self.flow.set_connection_recv_window(window) {
                encode::window_update(&mut self.out, StreamId::CONNECTION, increment);
            }
        }
    }

    fn check_block_size(&self, len: usize) -> Result<(), H2Error> {
        if len > self.config.max_header_block_bytes() {
            return Err(calm("header_block_too_large"));
        }
        Ok(())
    }

    fn on_settings(&mut self, settings: Settings) -> Result<(), H2Error> {
        if let Some(size) = settings.header_table_size {
            self.hpack_enc.set_max_table_size(size as usize);
        }
        if settings.enable_push == Some(true) && self.role == Role::Client {
            return Err(protocol("SETTINGS_ENABLE_PUSH=1 from a server"));
        }
        if let Some(max) = settings.max_concurrent_streams {
            self.streams.set_max_local(max);
        }
        if let Some(size) = settings.initial_window_size {
            let raised = size > self.flow.peer_initial_window();
            let streams = &self.streams;
            self.flow
                .set_peer_initial_window(size, |id| streams.send_offset(id))?;
            // Only a raise can unblock a stream; a lowering costs O(1) (flow.rs).
            if raised {
                self.unblock_all();
            }
        }
        if let Some(size) = settings.max_frame_size {
            self.peer_max_frame_size = size;
        }
        encode::settings_ack(&mut self.out);
        self.peer_triggered += 1;
        Ok(())
    }

    fn on_goaway(&mut self, goaway: GoAway) {
        if self.role == Role::Client
            && goaway.code == ErrorCode::EnhanceYourCalm
            && &goaway.debug_data[..] == b"too_many_pings"
        {
            // grpc-go's answer to the server's ping policy: ping half as often.
            self.config.keepalive_interval = self
                .config
                .keepalive_interval
                .map(|interval| interval.saturating_mul(2));
        }
        if self.role == Role::Client {
            // Streams above last_stream_id were not processed: they may be retried.
            let refused: Vec<StreamId> = self
                .streams
                .iter_mut()
                .map(|(id, _)| id)
                .filter(|id| *id > goaway.last_stream_id)
                .collect();
            for id in refused {
                self.streams.send_reset(id);
                self.events.push_back(Event::Reset {
                    stream: id,
                    code: ErrorCode::RefusedStream,
                    remote: true,
                });
            }
            if self.shutdown == Shutdown::None {
                self.shutdown = Shutdown::Sent;
            }
        }
        self.events.push_back(Event::GoAway {
            last_stream_id: goaway.last_stream_id,
            code: goaway.code,
            debug_data: goaway.debug_data,
        });
    }

    fn on_data(&mut self, data: super::super::frame::Data, now: Instant) -> Result<(), H2Error> {
        let id = data.stream_id;
        // Every DATA counts against the connection window, whatever its stream (§6.9).
        self.flow.recv_connection_data(data.flow_len)?;
        if self
            .bdp
            .as_mut()
            .is_some_and(|bdp| bdp.on_data(data.flow_len, now))
        {
            encode::ping(&mut self.out, BDP_PING, false);
        }
        if !data.end_stream
            && data.data.len() < self.config.limits.tiny_data_len
            && !self.budgets.tiny_data.take(now)
        {
            return Err(calm("too_many_data_frames"));
        }
        let len = data.data.len() as u64;
        let padding = data.flow_len.saturating_sub(data.data.len() as u32);
        if let Some(s) = self.streams.get_mut(id) {
            if s.is_recv_open() {
                self.flow.recv_stream_data(&mut s.flow, id, data.flow_len)?;
                self.flow.release(&mut s.flow, padding);
                if !s.user.head_received {
                    return Err(malformed(id, "DATA before the header block"));
                }
                s.user.received += len;
                if let Some(expected) = s.user.content_length {
                    if s.user.received > expected
                        || (data.end_stream && s.user.received != expected)
                    {
                        return Err(malformed(id, "content-length does not match the DATA"));
                    }
                }
            }
        }
        match self.streams.recv_data(id, data.end_stream)? {
            Recv::Opened | Recv::Live | Recv::Closed(_) => {
                self.events.push_back(Event::Data {
                    stream: id,
                    data: data.data,
                    end_stream: data.end_stream,
                });
            }
            Recv::Ignore => {}
        }
        Ok(())
    }

    /// A whole header block: HPACK first, always, then the store, then the rules for its
    /// place.
    fn finish_block(
        &mut self,
        id: StreamId,
        end_stream: bool,
        priority_error: bool,
        block: &[u8],
    ) -> Result<(), H2Error> {
        self.fields.clear();
        let fields = &mut self.fields;
        let decoded =
            self.hpack_dec
                .decode(block, self.config.max_header_list_size as usize, |field| {
                    fields.push(field)
                });
        let too_large = match decoded {
            Ok(()) => false,
            Err(err) if err.is_compression_error() => {
                return Err(H2Error::connection(
                    ErrorCode::CompressionError,
                    "HPACK decoding failed",
                ))
            }
            Err(_) => true,
        };
        let recv = self
            .streams
            .recv_headers(id, end_stream, StreamData::default)?;
        // What the block is (a head or trailers) and, for trailers, whether the body matched
        // its content-length; the stream may already have left the store.
        let head = |s: &StreamData| Block {
            announced: s.announced,
            first: !s.head_received,
            length_ok: s.content_length.is_none_or(|n| n == s.received),
        };
        let block = match &recv {
            Recv::Ignore => return Ok(()),
            Recv::Opened => Block {
                announced: false,
                first: true,
                length_ok: true,
            },
            Recv::Live => match self.streams.get(id) {
                Some(s) => head(&s.user),
                None => return Ok(()),
            },
            Recv::Closed(s) => head(&s.user),
        };
        let announced = block.announced;
        let result = self.apply_block(id, end_stream, priority_error, too_large, block);
        if result.is_err() && announced && matches!(recv, Recv::Closed(_)) {
            // The stream has left the store, so the reset's event is sent from here.
            if let Err(H2Error::Stream { code, .. }) = result {
                self.events.push_back(Event::Reset {
                    stream: id,
                    code,
                    remote: false,
                });
            }
        }
        result
    }

    /// A request whose header list is over our SETTINGS_MAX_HEADER_LIST_SIZE gets HTTP 431
    /// (RFC 6585) and no handler; counted as an answer to the peer.
    fn answer_431(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(id) {
            s.user.head_sent = true;
        }
        let status = [EncodeField::new(b":status", b"431")];
        encode_block(
            &mut self.hpack_enc,
            &mut self.scratch,
            &mut self.out,
            id,
            status,
            true,
            self.peer_max_frame_size,
        );
        self.peer_triggered += 1;
        self.end_sent(id);
    }

    /// The header list checked for its place: a request or response head (`first`), or
    /// trailers; the event queued.
    fn apply_block(
        &mut self,
        id: StreamId,
        end_stream: bool,
        priority_error: bool,
        too_large: bool,
        block: Block,
    ) -> Result<(), H2Error> {
        if priority_error {
            return Err(malformed(id, "stream depends on itself"));
        }
        if too_large {
            if block.first && self.role == Role::Server {
                // Answered like h2 does: 431, the request (if still open) reset NO_ERROR.
                self.answer_431(id);
                return Ok(());
            }
            return Err(malformed(id, "header list larger than advertised"));
        }
        if !block.first {
            if !end_stream {
                return Err(malformed(id, "trailers without END_STREAM"));
            }
            let trailers = headers::trailers(&self.fields).map_err(|r| malformed(id, r))?;
            if !block.length_ok {
                return Err(malformed(id, "content-length does not match the DATA"));
            }
            self.events.push_back(Event::Trailers {
                stream: id,
                headers: trailers,
            });
            return Ok(());
        }
        match self.role {
            Role::Server => {
                let parsed = headers::request(&self.fields).map_err(|r| malformed(id, r))?;
                if end_stream && parsed.content_length.is_some_and(|n| n != 0) {
                    return Err(malformed(id, "content-length does not match the DATA"));
                }
                if let Some(s) = self.streams.get_mut(id) {
                    s.user.announced = true;
                    s.user.head_received = true;
                    s.user.content_length = parsed.content_length;
                }
                if self.config.limits.pause_at_handlers {
                    self.running.insert(id);
                }
                self.events.push_back(Event::Request {
                    stream: id,
                    head: parsed.head,
                    end_stream,
                });
            }
            Role::Client => {
                let parsed = headers::response(&self.fields).map_err(|r| malformed(id, r))?;
                let (status, headers) = parsed.head;
                if status.is_informational() {
                    // 1xx: another head follows; gRPC never sends one.
                    if end_stream {
                        return Err(malformed(id, "END_STREAM on an informational response"));
                    }
                    return Ok(());
                }
                if let Some(s) = self.streams.get_mut(id) {
                    s.user.head_received = true;
                    s.user.content_length = parsed.content_length;
                }
                self.events.push_back(Event::Response {
                    stream: id,
                    status,
                    headers,
                    end_stream,
                });
            }
        }
        Ok(())
    }
}
