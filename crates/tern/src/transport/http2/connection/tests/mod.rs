//! The connection's tests: a scripted peer builds frames with the frame and HPACK encoders,
//! feeds them to a connection on a fake clock, and decodes what comes out to check the exact
//! frames. `exchange` covers the handshake, requests, the send path, resets, GOAWAY, PING and
//! timers; `floods` the budgets and the ping policy; `pair` a client against a server;
//! `random` random frame sequences.

mod exchange;
mod floods;
mod pair;
mod random;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::super::frame::decode::Decoder as FrameDecoder;
use super::super::frame::{encode, ErrorCode, Frame, GoAway, Settings, StreamId};
use super::super::hpack::decoder::Decoder as HpackDecoder;
use super::super::hpack::encoder::{EncodeField, Encoder as HpackEncoder};
use super::{Config, Connection, Event, PREFACE};

pub(super) fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

/// A config with HTTP/2's default windows, so tests count bytes from 65,535.
pub(super) fn config() -> Config {
    Config {
        initial_stream_window: 65_535,
        initial_connection_window: 65_535,
        ..Config::default()
    }
}

/// The peer on the other side: it writes frames into `input` and reads the connection's.
pub(super) struct Peer {
    pub(super) enc: HpackEncoder,
    pub(super) dec: HpackDecoder,
    pub(super) input: BytesMut,
}

impl Peer {
    pub(super) fn new() -> Peer {
        Peer {
            enc: HpackEncoder::new(),
            dec: HpackDecoder::new(),
            input: BytesMut::new(),
        }
    }

    pub(super) fn block(&mut self, fields: &[(&str, &str)]) -> Bytes {
        let mut block = BytesMut::new();
        self.enc.encode(
            fields
                .iter()
                .map(|(n, v)| EncodeField::new(n.as_bytes(), v.as_bytes())),
            &mut block,
        );
        block.freeze()
    }

    pub(super) fn headers(&mut self, id: u32, fields: &[(&str, &str)], end_stream: bool) {
        let block = self.block(fields);
        encode::headers(&mut self.input, sid(id), &block, end_stream, 16_384);
    }

    /// A gRPC request head for `path`.
    pub(super) fn request(&mut self, id: u32, path: &str, end_stream: bool) {
        self.headers(id, &grpc_request(path), end_stream);
    }

    pub(super) fn data(&mut self, id: u32, payload: &[u8], end_stream: bool) {
        encode::data(&mut self.input, sid(id), payload, end_stream);
    }

    pub(super) fn settings(&mut self, settings: Settings) {
        encode::settings(&mut self.input, &settings);
    }

    /// The client preface, an empty SETTINGS and the ack of the server's.
    pub(super) fn handshake(&mut self) {
        self.input.extend_from_slice(PREFACE);
        self.settings(Settings::default());
        encode::settings_ack(&mut self.input);
    }

    /// Decodes a header block the connection sent.
    pub(super) fn decode(&mut self, fragment: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        self.dec
            .decode(fragment, 1 << 20, |f| {
                fields.push((
                    String::from_utf8_lossy(f.name()).into_owned(),
                    String::from_utf8_lossy(f.value()).into_owned(),
                ))
            })
            .expect("the connection's header block decodes");
        fields
    }

    /// Feeds what the peer wrote to `conn`.
    pub(super) fn send_to(&mut self, conn: &mut Connection, now: Instant) {
        conn.recv(&mut self.input, now);
    }
}

pub(super) fn grpc_request(path: &str) -> Vec<(&str, &str)> {
    vec![
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "localhost"),
        (":path", path),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
}

/// Everything `conn` has to write, decoded into frames.
pub(super) fn frames(conn: &mut Connection) -> Vec<Frame> {
    let mut chunks = Vec::new();
    let n = conn.poll_transmit(&mut chunks);
    let mut bytes = BytesMut::new();
    for chunk in &chunks {
        bytes.extend_from_slice(chunk);
    }
    assert_eq!(n, bytes.len(), "poll_transmit counts what it hands out");
    decode_all(&mut bytes)
}

pub(super) fn decode_all(bytes: &mut BytesMut) -> Vec<Frame> {
    let mut decoder = FrameDecoder::new();
    decoder.set_max_frame_size(1 << 20);
    let mut out = Vec::new();
    while let Some(frame) = decoder
        .decode(bytes)
        .expect("the connection writes valid frames")
    {
        out.push(frame);
    }
    assert!(bytes.is_empty(), "a partial frame was written");
    out
}

pub(super) fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

/// A server past the handshake, its first frames read; the clock at `t0`.
pub(super) fn open_server(config: Config) -> (Connection, Peer, Instant) {
    let t0 = Instant::now();
    let mut conn = Connection::server(config, t0);
    let mut peer = Peer::new();
    peer.handshake();
    peer.send_to(&mut conn, t0);
    let out = frames(&mut conn);
    assert!(matches!(out.first(), Some(Frame::Settings(_))), "{out:?}");
    assert_eq!(out.last(), Some(&Frame::SettingsAck));
    assert!(events(&mut conn).is_empty());
    (conn, peer, t0)
}

pub(super) fn goaway(last: u32, code: ErrorCode, debug: &str) -> Frame {
    Frame::GoAway(GoAway {
        last_stream_id: sid(last),
        code,
        debug_data: Bytes::copy_from_slice(debug.as_bytes()),
    })
}

pub(super) fn rst(id: u32, code: ErrorCode) -> Frame {
    Frame::RstStream {
        stream_id: sid(id),
        code,
    }
}

pub(super) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The 5-byte gRPC prefix and a message.
pub(super) fn grpc_message(message: &[u8]) -> Vec<u8> {
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(message);
    framed
}
