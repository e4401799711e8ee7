//! The application's commands: response heads, request heads (client), body data and
//! trailers queued for the send path, resets, flow-control credit, PING and GOAWAY (graceful
//! in two phases, or at once on an error), and how a connection error closes it.

use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};

use super::super::frame::{encode, ErrorCode, StreamId, MAX_STREAM_ID};
use super::super::hpack::encoder::EncodeField;
use super::super::stream::{Role, Stream};
use super::{
    encode_block, fields_of, Connection, ConnectionError, Event, SendError, Shutdown, StreamData,
    SHUTDOWN_PING,
};

impl Connection {
    /// Sends a response head (server). `end_stream` makes it a Trailers-Only response.
    pub(crate) fn send_headers(
        &mut self,
        stream: StreamId,
        status: StatusCode,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let s = self
            .streams
            .get_mut(stream)
            .ok_or(SendError::UnknownStream)?;
        if s.user.head_sent || !s.is_send_open() {
            return Err(SendError::OutOfOrder);
        }
        s.user.head_sent = true;
        let status = [EncodeField::new(b":status", status.as_str().as_bytes())];
        encode_block(
            &mut self.hpack_enc,
            &mut self.scratch,
            &mut self.out,
            stream,
            status.into_iter().chain(fields_of(headers)),
            end_stream,
            self.peer_max_frame_size,
        );
        self.pings.on_headers_or_data_sent();
        if end_stream {
            self.end_sent(stream);
        }
        Ok(())
    }

    /// Opens a stream with a request head (client). The path, scheme and authority go as
    /// pseudo-headers; `headers` must hold no connection-specific field.
    pub(crate) fn open_stream(
        &mut self,
        method: &Method,
        scheme: &str,
        authority: &str,
        path: &str,
        headers: &HeaderMap,
        end_stream: bool,
    ) -> Result<StreamId, SendError> {
        if self.closed || self.shutdown != Shutdown::None {
            return Err(SendError::Closed);
        }
        let user = StreamData {
            announced: true,
            head_sent: true,
            end_queued: end_stream,
            ..StreamData::default()
        };
        let stream = self
            .streams
            .open_local(end_stream, user)
            .map_err(SendError::Open)?;
        let pseudo = [
            EncodeField::new(b":method", method.as_str().as_bytes()),
            EncodeField::new(b":scheme", scheme.as_bytes()),
            EncodeField::new(b":authority", authority.as_bytes()),
            EncodeField::new(b":path", path.as_bytes()),
        ];
        encode_block(
            &mut self.hpack_enc,
            &mut self.scratch,
            &mut self.out,
            stream,
            pseudo.into_iter().chain(fields_of(headers)),
            end_stream,
            self.peer_max_frame_size,
        );
        Ok(stream)
    }

    /// Queues body bytes; they go out in `poll_transmit` as the windows allow, round-robin
    /// with other streams' in slices of at most 16 KiB.
    pub(crate) fn send_data(
        &mut self,
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), SendError> {
        let s = self.sendable_stream(stream)?;
        s.user.queued += data.len();
        if !data.is_empty() {
            s.user.queue.push_back(data);
        }
        s.user.end_queued = end_stream;
        self.schedule(stream);
        Ok(())
    }

    /// Queues trailers, which end the stream once the queued data is out.
    pub(crate) fn send_trailers(
        &mut self,
        stream: StreamId,
        headers: HeaderMap,
    ) -> Result<(), SendError> {
        let s = self.sendable_stream(stream)?;
        s.user.trailers = Some(headers);
        s.user.end_queued = true;
        self.schedule(stream);
        Ok(())
    }

    fn sendable_stream(&mut self, stream: StreamId) -> Result<&mut Stream<StreamData>, SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        let s = self
            .streams
            .get_mut(stream)
            .ok_or(SendError::UnknownStream)?;
        if !s.user.head_sent || s.user.end_queued || !s.is_send_open() {
            return Err(SendError::OutOfOrder);
        }
        Ok(s)
    }

    /// Resets a stream (RST_STREAM with `code`); queued data is dropped.
    pub(crate) fn reset(&mut self, stream: StreamId, code: ErrorCode) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed);
        }
        if self.streams.send_reset(stream).is_none() {
            return Err(SendError::UnknownStream);
        }
        encode::rst_stream(&mut self.out, stream, code);
        Ok(())
    }

    /// The application consumed `n` bytes of the stream's DATA: a stream WINDOW_UPDATE goes
    /// out once a quarter of our initial window is released (flow.rs's policy). The
    /// connection window is topped up on receipt, independently of this.
    pub(crate) fn release_capacity(&mut self, stream: StreamId, n: usize) {
        let Some(s) = self.streams.get_mut(stream) else {
            return;
        };
        self.flow
            .release(&mut s.flow, u32::try_from(n).unwrap_or(u32::MAX));
        if !s.is_recv_open() {
            return;
        }
        if let Some(increment) = self.flow.stream_window_update(&mut s.flow) {
            encode::window_update(&mut self.out, stream, increment);
        }
    }

    /// Sends a PING; its ack comes back as `Event::PingAck`.
    pub(crate) fn ping(&mut self, payload: [u8; 8]) {
        if !self.closed {
            encode::ping(&mut self.out, payload, false);
        }
    }

    /// Sends GOAWAY. With NO_ERROR it is graceful (grpc-go's two phases): GOAWAY(2^31-1) and
    /// a PING first, so requests already in flight are not lost, then, at the PING's ack or
    /// after `shutdown_ping_timeout`, GOAWAY with the real last stream id; the connection
    /// closes once no stream is left. Any other code closes at once.
    pub(crate) fn go_away(&mut self, code: ErrorCode, now: Instant) {
        if self.closed {
            return;
        }
        if code != ErrorCode::NoError {
            self.fail(code, "");
            return;
        }
        if self.shutdown != Shutdown::None {
            return;
        }
        if self.role == Role::Server {
            encode::goaway(
                &mut self.out,
                StreamId::new(MAX_STREAM_ID),
                ErrorCode::NoError,
                b"",
            );
            encode::ping(&mut self.out, SHUTDOWN_PING, false);
            let deadline = now
                .checked_add(self.config.shutdown_ping_timeout)
                .unwrap_or(now);
            self.shutdown = Shutdown::Draining { deadline };
        } else {
            self.final_goaway(ErrorCode::NoError, b"");
        }
    }

    /// The GOAWAY with the real last stream id.
    pub(super) fn final_goaway(&mut self, code: ErrorCode, debug: &[u8]) {
        let last = self.streams.last_remote();
        self.streams.stop_accepting(last);
        encode::goaway(&mut self.out, last, code, debug);
        self.shutdown = Shutdown::Sent;
    }

    /// A connection error: GOAWAY with `code` and `reason`, and the connection is over.
    pub(super) fn fail(&mut self, code: ErrorCode, reason: &'static str) {
        if self.closed {
            return;
        }
        self.final_goaway(code, reason.as_bytes());
        self.closed = true;
        self.block = None;
        self.ready.clear();
        self.blocked.clear();
        self.events.push_back(Event::Closed {
            error: Some(ConnectionError { code, reason }),
        });
    }

    /// After a graceful GOAWAY, the connection closes when its last stream ends.
    pub(super) fn maybe_finish(&mut self) {
        if !self.closed && self.shutdown == Shutdown::Sent && self.streams.is_empty() {
            self.closed = true;
            self.events.push_back(Event::Closed { error: None });
        }
    }
}
