//! Tests of the frame codec: each frame type both ways, each rule the decoder enforces, and
//! randomized garbage, bit flips and truncations that must give errors, never panics, and the
//! same answers however the bytes are split into reads.
//!
//! The generator is a hand-rolled xorshift so that a failure prints a seed that reproduces it,
//! with no dependency.

use bytes::{Bytes, BytesMut};

use super::decode::{Decoder, HeaderBlock};
use super::{encode, flags, kind, setting, ErrorCode, Frame, FrameHeader, H2Error, StreamId};
use super::{GoAway, Priority, Settings, DEFAULT_MAX_FRAME_SIZE, HEADER_LEN};

fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

/// A frame as raw bytes, header and payload, whatever the rules say.
fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let head = FrameHeader::new(kind, flags, sid(stream), payload.len() as u32);
    let mut out = head.to_bytes().to_vec();
    out.extend_from_slice(payload);
    out
}

fn decode_one(bytes: &[u8]) -> Result<Option<Frame>, H2Error> {
    Decoder::new().decode(&mut BytesMut::from(bytes))
}

fn conn(code: ErrorCode) -> impl Fn(&Result<Option<Frame>, H2Error>) -> bool {
    move |r| matches!(r, Err(H2Error::Connection { code: c, .. }) if *c == code)
}

fn stream(id: u32, code: ErrorCode) -> impl Fn(&Result<Option<Frame>, H2Error>) -> bool {
    move |r| matches!(r, Err(H2Error::Stream { id: i, code: c, .. }) if *c == code && i.get() == id)
}

#[test]
fn frame_header_round_trips_and_ignores_the_reserved_bit() {
    let head = FrameHeader::new(kind::HEADERS, 0x25, sid(0x1234_5678), 0x00ab_cdef);
    let bytes = head.to_bytes();
    assert_eq!(
        bytes,
        [0xab, 0xcd, 0xef, 0x01, 0x25, 0x12, 0x34, 0x56, 0x78]
    );
    assert_eq!(FrameHeader::parse(&bytes), head);
    let mut reserved = bytes;
    reserved[5] |= 0x80;
    assert_eq!(FrameHeader::parse(&reserved).stream_id, sid(0x1234_5678));
    assert_eq!(StreamId::new(0xffff_ffff).get(), 0x7fff_ffff);
}

#[test]
fn error_codes_round_trip_and_unknown_codes_are_kept() {
    for code in 0..=0xd {
        let known = ErrorCode::from_u32(code);
        assert!(!matches!(known, ErrorCode::Unknown(_)), "{code}");
        assert_eq!(known.to_u32(), code);
    }
    assert_eq!(ErrorCode::from_u32(0xe), ErrorCode::Unknown(0xe));
    assert_eq!(ErrorCode::Unknown(0xdead).to_u32(), 0xdead);
    assert_eq!(ErrorCode::EnhanceYourCalm.to_string(), "ENHANCE_YOUR_CALM");
}

#[test]
fn data_frames_decode_without_copying_and_lose_their_padding() {
    let mut wire = raw(kind::DATA, flags::END_STREAM, 1, b"hello");
    wire.extend(raw(kind::DATA, flags::PADDED, 3, b"\x03abc\0\0\0"));
    let mut buf = BytesMut::from(&wire[..]);
    let base = buf.as_ptr() as usize;
    let mut decoder = Decoder::new();
    let Ok(Some(Frame::Data(first))) = decoder.decode(&mut buf) else {
        panic!("DATA expected");
    };
    assert_eq!((first.stream_id, first.end_stream), (sid(1), true));
    assert_eq!((&first.data[..], first.flow_len), (&b"hello"[..], 5));
    // The payload points into the read buffer's allocation: split off, not copied.
    assert_eq!(first.data.as_ptr() as usize, base + HEADER_LEN);
    let Ok(Some(Frame::Data(second))) = decoder.decode(&mut buf) else {
        panic!("DATA expected");
    };
    assert_eq!(
        (&second.data[..], second.flow_len, second.end_stream),
        (&b"abc"[..], 7, false)
    );
    assert!(buf.is_empty());
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn a_partial_frame_consumes_nothing() {
    let wire = raw(kind::PING, 0, 0, b"12345678");
    let mut decoder = Decoder::new();
    for cut in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..cut]);
        assert_eq!(decoder.decode(&mut buf), Ok(None), "cut at {cut}");
        assert_eq!(buf.len(), cut);
    }
    let mut buf = BytesMut::from(&wire[..]);
    let ping = decoder.decode(&mut buf);
    assert_eq!(
        ping,
        Ok(Some(Frame::Ping {
            ack: false,
            payload: *b"12345678"
        }))
    );
}

#[test]
fn headers_with_padding_and_priority_are_parsed_and_the_priority_checked() {
    let mut payload = vec![2]; // pad length
    payload.extend_from_slice(&[0x80, 0, 0, 3, 15]); // exclusive on stream 3, weight 15
    payload.extend_from_slice(b"block");
    payload.extend_from_slice(&[0, 0]);
    let all = flags::PADDED | flags::PRIORITY | flags::END_HEADERS | flags::END_STREAM;
    let Ok(Some(Frame::Headers(headers))) = decode_one(&raw(kind::HEADERS, all, 5, &payload))
    else {
        panic!("HEADERS expected");
    };
    assert_eq!(&headers.fragment[..], b"block");
    assert!(headers.end_stream && headers.end_headers);
    let priority = Priority {
        dependency: sid(3),
        exclusive: true,
        weight: 15,
    };
    assert_eq!(headers.priority, Some(priority));
    assert_eq!(headers.stream_error(), None);

    // Depending on itself is the stream's error, raised after HPACK has seen the block.
    let own = raw(
        kind::HEADERS,
        flags::PRIORITY | flags::END_HEADERS,
        5,
        &[0, 0, 0, 5, 1],
    );
    let Ok(Some(Frame::Headers(headers))) = decode_one(&own) else {
        panic!("HEADERS expected");
    };
    let err = headers
        .stream_error()
        .map(|e| (e.is_connection_error(), e.code()));
    assert_eq!(err, Some((false, ErrorCode::ProtocolError)));
}

#[test]
fn control_frames_round_trip_through_the_encoders() {
    let mut buf = BytesMut::new();
    let settings = Settings {
        header_table_size: Some(0),
        enable_push: Some(false),
        max_concurrent_streams: Some(100),
        initial_window_size: Some(1 << 20),
        max_frame_size: Some(1 << 16),
        max_header_list_size: Some(16 << 10),
    };
    encode::settings(&mut buf, &settings);
    encode::settings_ack(&mut buf);
    encode::ping(&mut buf, *b"pingpong", true);
    encode::goaway(
        &mut buf,
        sid(7),
        ErrorCode::EnhanceYourCalm,
        b"too_many_pings",
    );
    encode::rst_stream(&mut buf, sid(9), ErrorCode::Cancel);
    encode::window_update(&mut buf, sid(0), 1 << 30);
    encode::window_update(&mut buf, sid(11), 1);
    encode::data(&mut buf, sid(13), b"xyz", true);
    buf.extend(raw(kind::PRIORITY, 0, 15, &[0, 0, 0, 1, 200]));
    buf.extend(raw(0xfa, 0xff, 17, b"an extension frame"));
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    while let Ok(Some(frame)) = decoder.decode(&mut buf) {
        frames.push(frame);
    }
    assert!(buf.is_empty());
    let expected = vec![
        Frame::Settings(settings),
        Frame::SettingsAck,
        Frame::Ping {
            ack: true,
            payload: *b"pingpong",
        },
        Frame::GoAway(GoAway {
            last_stream_id: sid(7),
            code: ErrorCode::EnhanceYourCalm,
            debug_data: Bytes::from_static(b"too_many_pings"),
        }),
        Frame::RstStream {
            stream_id: sid(9),
            code: ErrorCode::Cancel,
        },
        Frame::WindowUpdate {
            stream_id: sid(0),
            increment: 1 << 30,
        },
        Frame::WindowUpdate {
            stream_id: sid(11),
            increment: 1,
        },
        Frame::Data(super::Data {
            stream_id: sid(13),
            end_stream: true,
            data: Bytes::from_static(b"xyz"),
            flow_len: 3,
        }),
        Frame::Priority {
            stream_id: sid(15),
            priority: Priority {
                dependency: sid(1),
                exclusive: false,
                weight: 200,
            },
        },
        Frame::Unknown {
            kind: 0xfa,
            stream_id: sid(17),
            length: 18,
        },
    ];
    assert_eq!(frames, expected);
}

#[test]
fn a_long_header_block_is_split_into_continuations_and_tracked_back() {
    let block: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
    let mut buf = BytesMut::new();
    encode::headers(&mut buf, sid(3), &block, true, DEFAULT_MAX_FRAME_SIZE);
    assert_eq!(buf.len(), block.len() + 3 * HEADER_LEN);
    let mut decoder = Decoder::new();
    let Ok(Some(Frame::Headers(first))) = decoder.decode(&mut buf) else {
        panic!("HEADERS expected");
    };
    assert!(first.end_stream && !first.end_headers);
    let mut joined = first.fragment.to_vec();
    let progress = HeaderBlock {
        stream_id: sid(3),
        continuations: 0,
        fragment_bytes: 16_384,
    };
    assert_eq!(decoder.header_block(), Some(progress));
    while let Ok(Some(Frame::Continuation {
        stream_id,
        end_headers,
        fragment,
    })) = decoder.decode(&mut buf)
    {
        assert_eq!(stream_id, sid(3));
        joined.extend_from_slice(&fragment);
        if end_headers {
            break;
        }
        assert_eq!(decoder.header_block().map(|b| b.continuations), Some(1));
    }
    assert_eq!(joined, block);
    assert_eq!(decoder.header_block(), None);

    let mut empty = BytesMut::new();
    encode::headers(&mut empty, sid(1), b"", false, DEFAULT_MAX_FRAME_SIZE);
    assert_eq!(
        &empty[..],
        &raw(kind::HEADERS, flags::END_HEADERS, 1, b"")[..]
    );
}

#[test]
fn only_continuation_on_the_same_stream_may_follow_an_open_header_block() {
    let open = raw(kind::HEADERS, 0, 1, b"a");
    let cases: [(Vec<u8>, bool); 5] = [
        (raw(kind::CONTINUATION, flags::END_HEADERS, 1, b"b"), true),
        (raw(kind::CONTINUATION, flags::END_HEADERS, 3, b"b"), false),
        (raw(kind::PING, 0, 0, b"12345678"), false),
        (raw(kind::DATA, 0, 1, b"x"), false),
        (raw(0xfa, 0, 0, b""), false),
    ];
    for (next, ok) in cases {
        let mut buf = BytesMut::from(&open[..]);
        buf.extend_from_slice(&next);
        let mut decoder = Decoder::new();
        assert!(matches!(
            decoder.decode(&mut buf),
            Ok(Some(Frame::Headers(_)))
        ));
        let second = decoder.decode(&mut buf);
        if ok {
            assert!(matches!(second, Ok(Some(Frame::Continuation { .. }))));
        } else {
            assert!(
                conn(ErrorCode::ProtocolError)(&second),
                "{next:?}: {second:?}"
            );
        }
    }
    let stray = raw(kind::CONTINUATION, flags::END_HEADERS, 1, b"b");
    assert!(conn(ErrorCode::ProtocolError)(&decode_one(&stray)));
    // PUSH_PROMISE opens a block the same way.
    let mut buf = BytesMut::from(&raw(kind::PUSH_PROMISE, 0, 1, &[0, 0, 0, 2, b'h'])[..]);
    buf.extend_from_slice(&raw(kind::PING, 0, 0, b"12345678"));
    let mut decoder = Decoder::new();
    let Ok(Some(Frame::PushPromise(promise))) = decoder.decode(&mut buf) else {
        panic!("PUSH_PROMISE expected");
    };
    assert_eq!(
        (promise.promised_id, &promise.fragment[..]),
        (sid(2), &b"h"[..])
    );
    assert!(conn(ErrorCode::ProtocolError)(&decoder.decode(&mut buf)));
}

#[test]
fn every_fixed_rule_gives_its_error() {
    type Check = Box<dyn Fn(&Result<Option<Frame>, H2Error>) -> bool>;
    use ErrorCode::{FlowControlError as Flow, FrameSizeError as Size, ProtocolError as Proto};
    let big = vec![0u8; DEFAULT_MAX_FRAME_SIZE as usize + 1];
    let settings = |id: u16, value: u32| {
        let mut p = id.to_be_bytes().to_vec();
        p.extend_from_slice(&value.to_be_bytes());
        raw(kind::SETTINGS, 0, 0, &p)
    };
    let cases: Vec<(&str, Vec<u8>, Check)> = vec![
        (
            "oversized DATA",
            raw(kind::DATA, 0, 1, &big),
            Box::new(conn(Size)),
        ),
        (
            "oversized unknown",
            raw(0xfa, 0, 1, &big),
            Box::new(conn(Size)),
        ),
        (
            "DATA on 0",
            raw(kind::DATA, 0, 0, b""),
            Box::new(conn(Proto)),
        ),
        (
            "HEADERS on 0",
            raw(kind::HEADERS, 4, 0, b""),
            Box::new(conn(Proto)),
        ),
        (
            "PRIORITY on 0",
            raw(kind::PRIORITY, 0, 0, &[0; 5]),
            Box::new(conn(Proto)),
        ),
        (
            "PUSH_PROMISE on 0",
            raw(kind::PUSH_PROMISE, 4, 0, &[0; 4]),
            Box::new(conn(Proto)),
        ),
        (
            "RST on 0",
            raw(kind::RST_STREAM, 0, 0, &[0; 4]),
            Box::new(conn(Proto)),
        ),
        (
            "SETTINGS on 1",
            raw(kind::SETTINGS, 0, 1, b""),
            Box::new(conn(Proto)),
        ),
        (
            "PING on 1",
            raw(kind::PING, 0, 1, &[0; 8]),
            Box::new(conn(Proto)),
        ),
        (
            "GOAWAY on 1",
            raw(kind::GOAWAY, 0, 1, &[0; 8]),
            Box::new(conn(Proto)),
        ),
        (
            "PING of 7",
            raw(kind::PING, 0, 0, &[0; 7]),
            Box::new(conn(Size)),
        ),
        (
            "PING of 9",
            raw(kind::PING, 0, 0, &[0; 9]),
            Box::new(conn(Size)),
        ),
        (
            "RST of 3",
            raw(kind::RST_STREAM, 0, 1, &[0; 3]),
            Box::new(conn(Size)),
        ),
        (
            "WINDOW_UPDATE of 5",
            raw(kind::WINDOW_UPDATE, 0, 1, &[0; 5]),
            Box::new(conn(Size)),
        ),
        (
            "GOAWAY of 7",
            raw(kind::GOAWAY, 0, 0, &[0; 7]),
            Box::new(conn(Size)),
        ),
        (
            "SETTINGS of 5",
            raw(kind::SETTINGS, 0, 0, &[0; 5]),
            Box::new(conn(Size)),
        ),
        (
            "SETTINGS ACK of 6",
            raw(kind::SETTINGS, 1, 0, &[0; 6]),
            Box::new(conn(Size)),
        ),
        (
            "PRIORITY of 4",
            raw(kind::PRIORITY, 0, 3, &[0; 4]),
            Box::new(stream(3, Size)),
        ),
        (
            "PRIORITY on itself",
            raw(kind::PRIORITY, 0, 3, &[0, 0, 0, 3, 0]),
            Box::new(stream(3, Proto)),
        ),
        (
            "WINDOW_UPDATE 0 on stream",
            raw(kind::WINDOW_UPDATE, 0, 5, &[0x80, 0, 0, 0]),
            Box::new(stream(5, Proto)),
        ),
        (
            "WINDOW_UPDATE 0 on connection",
            raw(kind::WINDOW_UPDATE, 0, 0, &[0; 4]),
            Box::new(conn(Proto)),
        ),
        (
            "PADDED DATA, no pad length",
            raw(kind::DATA, 8, 1, b""),
            Box::new(conn(Size)),
        ),
        (
            "DATA padding = payload",
            raw(kind::DATA, 8, 1, &[1]),
            Box::new(conn(Proto)),
        ),
        (
            "DATA padding > payload",
            raw(kind::DATA, 8, 1, &[5, 0, 0]),
            Box::new(conn(Proto)),
        ),
        (
            "HEADERS padding over block",
            raw(kind::HEADERS, 0x2c, 1, &[1, 0, 0, 0, 0, 0]),
            Box::new(conn(Proto)),
        ),
        (
            "HEADERS too short for priority",
            raw(kind::HEADERS, 0x24, 1, &[0; 4]),
            Box::new(conn(Size)),
        ),
        (
            "PUSH_PROMISE too short",
            raw(kind::PUSH_PROMISE, 4, 1, &[0; 3]),
            Box::new(conn(Size)),
        ),
        (
            "ENABLE_PUSH 2",
            settings(setting::ENABLE_PUSH, 2),
            Box::new(conn(Proto)),
        ),
        (
            "INITIAL_WINDOW_SIZE 2^31",
            settings(setting::INITIAL_WINDOW_SIZE, 1 << 31),
            Box::new(conn(Flow)),
        ),
        (
            "MAX_FRAME_SIZE 16383",
            settings(setting::MAX_FRAME_SIZE, 16_383),
            Box::new(conn(Proto)),
        ),
        (
            "MAX_FRAME_SIZE 2^24",
            settings(setting::MAX_FRAME_SIZE, 1 << 24),
            Box::new(conn(Proto)),
        ),
    ];
    for (name, wire, check) in cases {
        let result = decode_one(&wire);
        assert!(check(&result), "{name}: {result:?}");
    }
}

#[test]
fn settings_accept_the_range_edges_and_ignore_unknown_ids() {
    let mut payload = Vec::new();
    for (id, value) in [
        (setting::ENABLE_PUSH, 1),
        (setting::INITIAL_WINDOW_SIZE, 0x7fff_ffff),
        (setting::MAX_FRAME_SIZE, 16_384),
        (setting::MAX_FRAME_SIZE, 16_777_215),
        (0x8, 7),
        (0xffff, 0xffff_ffff),
    ] {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&u32::to_be_bytes(value));
    }
    let Ok(Some(Frame::Settings(settings))) = decode_one(&raw(kind::SETTINGS, 0, 0, &payload))
    else {
        panic!("SETTINGS expected");
    };
    let expected = Settings {
        enable_push: Some(true),
        initial_window_size: Some(0x7fff_ffff),
        max_frame_size: Some(16_777_215),
        ..Settings::default()
    };
    assert_eq!(settings, expected);
    assert_eq!(
        decode_one(&raw(kind::SETTINGS, 0, 0, b"")),
        Ok(Some(Frame::Settings(Settings::default())))
    );
}

#[test]
fn the_frame_size_limit_follows_the_local_setting() {
    let frame = raw(kind::DATA, 0, 1, &[7u8; 20_000]);
    let mut decoder = Decoder::new();
    decoder.set_max_frame_size(32_768);
    let Ok(Some(Frame::Data(data))) = decoder.decode(&mut BytesMut::from(&frame[..])) else {
        panic!("DATA expected");
    };
    assert_eq!(data.data.len(), 20_000);
    decoder.set_max_frame_size(1);
    assert_eq!(decoder.max_frame_size(), DEFAULT_MAX_FRAME_SIZE);
    // The limit is checked on the header alone: no waiting for 20,000 bytes.
    let result = decoder.decode(&mut BytesMut::from(&frame[..HEADER_LEN]));
    assert!(conn(ErrorCode::FrameSizeError)(&result));
}

#[test]
fn a_stream_error_consumes_its_frame_and_a_connection_error_sticks() {
    let mut buf = BytesMut::from(&raw(kind::PRIORITY, 0, 3, &[0; 4])[..]);
    buf.extend_from_slice(&raw(kind::PING, 0, 0, b"12345678"));
    buf.extend_from_slice(&raw(kind::DATA, 0, 0, b""));
    buf.extend_from_slice(&raw(kind::PING, 0, 0, b"12345678"));
    let mut decoder = Decoder::new();
    assert!(stream(3, ErrorCode::FrameSizeError)(
        &decoder.decode(&mut buf)
    ));
    assert!(matches!(
        decoder.decode(&mut buf),
        Ok(Some(Frame::Ping { .. }))
    ));
    let first = decoder.decode(&mut buf);
    assert!(conn(ErrorCode::ProtocolError)(&first));
    assert_eq!(decoder.decode(&mut buf), first);
    assert_eq!(decoder.decode(&mut BytesMut::new()), first);
}

/// xorshift64* (Vigna): small, fast, and good enough to pick test inputs.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random frame: mostly well-formed, written by the encoders, sometimes with wrong lengths,
/// flags, ids or types.
fn random_frame(rng: &mut Rng, out: &mut Vec<u8>) {
    if rng.below(4) != 0 {
        return random_valid_frame(rng, out);
    }
    let kind = if rng.below(8) == 0 {
        rng.next() as u8
    } else {
        rng.below(10) as u8
    };
    let flags = match rng.below(3) {
        0 => 0,
        1 => [1, 4, 5, 8, 0x20, 0x24, 0x2d][rng.below(7)],
        _ => rng.next() as u8,
    };
    let stream = match rng.below(4) {
        0 => 0,
        1 => 1,
        2 => rng.below(10) as u32,
        _ => rng.next() as u32,
    };
    let len = match kind {
        kind::PING => [8, 8, 8, 0, 9][rng.below(5)],
        kind::RST_STREAM | kind::WINDOW_UPDATE => [4, 4, 4, 3, 5][rng.below(5)],
        kind::PRIORITY => [5, 5, 4][rng.below(3)],
        kind::SETTINGS => 6 * rng.below(4) + usize::from(rng.below(6) == 0),
        _ if rng.below(50) == 0 => 16_385,
        _ => rng.below(40),
    };
    let payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    out.extend_from_slice(&raw(kind, flags, stream, &payload));
}

fn random_valid_frame(rng: &mut Rng, out: &mut Vec<u8>) {
    let mut buf = BytesMut::new();
    let stream = sid(1 + 2 * rng.below(50) as u32);
    let bytes: Vec<u8> = (0..rng.below(60)).map(|_| rng.next() as u8).collect();
    let end = rng.below(2) == 0;
    match rng.below(9) {
        0 => encode::data(&mut buf, stream, &bytes, end),
        1 => {
            let pad = rng.below(10) as u8;
            let mut payload = vec![pad];
            payload.extend_from_slice(&bytes);
            payload.resize(payload.len() + usize::from(pad), 0);
            buf.extend_from_slice(&raw(kind::DATA, flags::PADDED, stream.get(), &payload));
        }
        2 => {
            let block: Vec<u8> = (0..rng.below(20_000)).map(|_| rng.next() as u8).collect();
            encode::headers(&mut buf, stream, &block, end, DEFAULT_MAX_FRAME_SIZE);
        }
        3 => encode::ping(&mut buf, [rng.next() as u8; 8], end),
        4 => {
            let settings = Settings {
                initial_window_size: Some(rng.below(1 << 31) as u32),
                max_concurrent_streams: Some(rng.next() as u32),
                ..Settings::default()
            };
            encode::settings(&mut buf, &settings);
        }
        5 => encode::window_update(
            &mut buf,
            sid(rng.below(3) as u32),
            1 + rng.below(1000) as u32,
        ),
        6 => encode::rst_stream(&mut buf, stream, ErrorCode::from_u32(rng.below(16) as u32)),
        7 => encode::goaway(&mut buf, stream, ErrorCode::NoError, &bytes),
        _ => buf.extend_from_slice(&raw(0x20 + rng.below(10) as u8, 0, 0, &bytes)),
    }
    out.extend_from_slice(&buf);
}

/// Everything a decoder says about `input`, fed in reads of the sizes `reads` picks, as text.
fn decode_all(input: &[u8], mut reads: impl FnMut() -> usize) -> (Vec<String>, usize) {
    let mut decoder = Decoder::new();
    let mut buf = BytesMut::new();
    let mut fed = 0;
    let mut said = Vec::new();
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => said.push(format!("{frame:?}")),
            Ok(None) if fed < input.len() => {
                let n = reads().clamp(1, input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Ok(None) => return (said, buf.len()),
            Err(err) if err.is_connection_error() => {
                said.push(format!("{err:?}"));
                assert_eq!(
                    decoder.decode(&mut buf),
                    Err(err),
                    "a connection error sticks"
                );
                return (said, usize::MAX);
            }
            Err(err) => said.push(format!("{err:?}")),
        }
    }
}

/// Decodes `input` whole and in random small reads, checks both say the same, and returns how
/// many frames decoded without error.
fn check_consistent(input: &[u8], rng: &mut Rng, context: &str) -> usize {
    let whole = decode_all(input, || usize::MAX);
    let split = decode_all(input, || 1 + rng.below(20));
    assert_eq!(
        whole, split,
        "{context}: answers depend on how the input was read"
    );
    whole
        .0
        .iter()
        .filter(|said| !said.contains("Error"))
        .count()
}

/// How many random cases to run: `default` in the test command, or `TERN_FRAME_CASES` for a
/// long run on demand:
/// `TERN_FRAME_CASES=10000000 cargo test --release -p tern --lib frame::tests -- --ignored`.
fn cases(default: u64) -> u64 {
    std::env::var("TERN_FRAME_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_frame_sequences_bit_flips_and_truncations_never_panic() {
    random_sequences(1, 3_000);
}

#[test]
fn random_garbage_never_panics() {
    random_garbage(0x5eed, 10_000);
}

/// Both, as long as `TERN_FRAME_CASES` says.
#[test]
#[ignore = "long run on demand: set TERN_FRAME_CASES"]
fn random_frames_long_run() {
    let cases = cases(10_000_000);
    random_sequences(1_000_000, cases / 2);
    random_garbage(0xfeed, cases / 2);
}

/// Each seed makes a random sequence of frames, then checks it, a bit-flipped copy and a
/// truncated copy.
fn random_sequences(first_seed: u64, seeds: u64) {
    let mut frames = 0;
    for seed in first_seed..first_seed + seeds {
        let mut rng = Rng::new(seed);
        let mut input = Vec::new();
        for _ in 0..1 + rng.below(12) {
            random_frame(&mut rng, &mut input);
        }
        frames += check_consistent(&input, &mut rng, &format!("seed {seed}"));
        let mut flipped = input.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(flipped.len());
            flipped[at] ^= 1 << rng.below(8);
        }
        check_consistent(&flipped, &mut rng, &format!("seed {seed}, flipped"));
        let cut = rng.below(input.len() + 1);
        check_consistent(
            &input[..cut],
            &mut rng,
            &format!("seed {seed}, cut at {cut}"),
        );
    }
    // Most inputs are mostly well-formed, so the decoder gets well past the first frame.
    assert!(frames as u64 > 3 * seeds, "only {frames} frames decoded");
}

fn random_garbage(seed: u64, cases: u64) {
    let mut rng = Rng::new(seed);
    for case in 0..cases {
        let len = rng.below(200);
        let input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        check_consistent(&input, &mut rng, &format!("garbage case {case}"));
    }
}
