//! The handshake, request events and header rules, the send path with flow control, resets,
//! GOAWAY, PING and the timers, each checked frame by frame.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::super::super::frame::{encode, ErrorCode, Frame, Settings, MAX_STREAM_ID};
use super::super::{ConnectionError, Event, SendError};
use super::*;

fn trailers(status: &str) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from_str(status).unwrap());
    map
}

fn grpc_response_headers() -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("content-type", HeaderValue::from_static("application/grpc"));
    map
}

#[test]
fn the_server_speaks_first_with_its_settings() {
    let t0 = Instant::now();
    let mut conn = Connection::server(Config::default(), t0);
    assert_eq!(
        frames(&mut conn),
        vec![
            Frame::Settings(Settings {
                max_concurrent_streams: Some(1024),
                initial_window_size: Some(1024 * 1024),
                max_header_list_size: Some(16 * 1024),
                ..Settings::default()
            }),
            Frame::WindowUpdate {
                stream_id: sid(0),
                increment: 2 * 1024 * 1024 - 65_535
            },
        ]
    );
    // The preface may come in pieces.
    let mut peer = Peer::new();
    peer.handshake();
    let mut rest = peer.input.split_off(5);
    conn.recv(&mut peer.input, t0);
    assert!(peer.input.is_empty());
    assert!(frames(&mut conn).is_empty());
    conn.recv(&mut rest, t0);
    assert_eq!(frames(&mut conn), vec![Frame::SettingsAck]);
    assert_eq!(
        conn.next_timeout(),
        Some(t0 + secs(2 * 60 * 60)),
        "handshake done, SETTINGS acked: only keepalive runs"
    );
}

#[test]
fn a_bad_preface_or_a_first_frame_other_than_settings_is_a_protocol_error() {
    let t0 = Instant::now();
    let mut conn = Connection::server(config(), t0);
    frames(&mut conn);
    conn.recv(&mut BytesMut::from(&b"GET / HTTP/1.1\r\n\r\n"[..]), t0);
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::ProtocolError,
            "invalid connection preface"
        )]
    );
    assert_eq!(
        events(&mut conn),
        vec![Event::Closed {
            error: Some(ConnectionError {
                code: ErrorCode::ProtocolError,
                reason: "invalid connection preface"
            })
        }]
    );
    assert!(conn.is_closed());

    // h2spec 3.5/2: the preface followed by anything but SETTINGS.
    let mut conn = Connection::server(config(), t0);
    frames(&mut conn);
    let mut input = BytesMut::from(&PREFACE[..]);
    encode::ping(&mut input, *b"12345678", false);
    conn.recv(&mut input, t0);
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::ProtocolError,
            "first frame not SETTINGS"
        )]
    );
}

#[test]
fn a_handshake_that_never_finishes_times_out() {
    let t0 = Instant::now();
    let mut conn = Connection::server(config(), t0);
    frames(&mut conn);
    // Half a preface, then silence.
    conn.recv(&mut BytesMut::from(&PREFACE[..10]), t0);
    assert_eq!(conn.next_timeout(), Some(t0 + secs(10)));
    conn.handle_timeout(t0 + secs(9));
    assert!(frames(&mut conn).is_empty());
    conn.handle_timeout(t0 + secs(10));
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::ProtocolError,
            "connection preface timed out"
        )]
    );
    assert!(conn.is_closed());
    assert_eq!(conn.next_timeout(), None);
}

#[test]
fn settings_not_acknowledged_in_time_end_the_connection() {
    let t0 = Instant::now();
    let mut conn = Connection::server(config(), t0);
    frames(&mut conn);
    let mut peer = Peer::new();
    peer.input.extend_from_slice(PREFACE);
    peer.settings(Settings::default());
    peer.send_to(&mut conn, t0);
    assert_eq!(frames(&mut conn), vec![Frame::SettingsAck]);
    assert_eq!(conn.next_timeout(), Some(t0 + secs(10)));
    conn.handle_timeout(t0 + secs(10));
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::SettingsTimeout,
            "SETTINGS not acknowledged in time"
        )]
    );
}

#[test]
fn a_unary_call_end_to_end() {
    let (mut conn, mut peer, t0) = open_server(config());
    let message = grpc_message(b"hello");
    peer.request(1, "/echo.Echo/Say", false);
    peer.data(1, &message, true);
    peer.send_to(&mut conn, t0);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/grpc"));
    headers.insert("te", HeaderValue::from_static("trailers"));
    assert_eq!(
        events(&mut conn),
        vec![
            Event::Request {
                stream: sid(1),
                head: super::super::RequestHead {
                    method: Method::POST,
                    scheme: Some(Bytes::from_static(b"http")),
                    authority: Some(Bytes::from_static(b"localhost")),
                    path: Some("/echo.Echo/Say".parse().unwrap()),
                    headers,
                },
                end_stream: false,
            },
            Event::Data {
                stream: sid(1),
                data: Bytes::from(message.clone()),
                end_stream: true,
            },
        ]
    );
    // The connection window is topped up at once (a quarter of it is not consumed yet).
    assert!(frames(&mut conn).is_empty());
    conn.release_capacity(sid(1), message.len());

    conn.send_headers(sid(1), StatusCode::OK, &grpc_response_headers(), false)
        .unwrap();
    conn.send_data(sid(1), Bytes::from(message.clone()), false)
        .unwrap();
    conn.send_trailers(sid(1), trailers("0")).unwrap();
    assert_eq!(
        conn.send_data(sid(1), Bytes::new(), false),
        Err(SendError::OutOfOrder)
    );
    let out = frames(&mut conn);
    assert_eq!(out.len(), 3, "{out:?}");
    let Frame::Headers(head) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(head.end_headers && !head.end_stream);
    assert_eq!(
        peer.decode(&head.fragment),
        [(":status", "200"), ("content-type", "application/grpc")]
            .map(|(n, v)| (n.to_string(), v.to_string()))
    );
    let Frame::Data(data) = &out[1] else {
        panic!("{out:?}")
    };
    assert_eq!((&data.data[..], data.end_stream), (&message[..], false));
    let Frame::Headers(tail) = &out[2] else {
        panic!("{out:?}")
    };
    assert!(tail.end_stream && tail.end_headers);
    assert_eq!(
        peer.decode(&tail.fragment),
        vec![("grpc-status".to_string(), "0".to_string())]
    );
    assert_eq!(conn.stream_count(), 0, "both ends done");
    assert!(!conn.wants_transmit());
}

#[test]
fn many_streams_go_out_in_one_batch_round_robin_in_16k_slices() {
    let (mut conn, mut peer, t0) = open_server(config());
    // Room for 2 × 40,000 bytes on the connection and each stream.
    peer.settings(Settings {
        initial_window_size: Some(100_000),
        ..Settings::default()
    });
    encode::window_update(&mut peer.input, sid(0), 100_000);
    peer.request(1, "/a", true);
    peer.request(3, "/b", true);
    peer.send_to(&mut conn, t0);
    assert_eq!(events(&mut conn).len(), 2);
    assert_eq!(frames(&mut conn), vec![Frame::SettingsAck]);
    for id in [1, 3] {
        conn.send_headers(sid(id), StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
        conn.send_data(sid(id), Bytes::from(vec![id as u8; 40_000]), false)
            .unwrap();
        conn.send_trailers(sid(id), trailers("0")).unwrap();
    }
    let mut chunks = Vec::new();
    conn.poll_transmit(&mut chunks);
    // Large payloads are handed out as they are, not copied.
    assert!(chunks.iter().any(|c| c.len() == 16_384));
    let mut bytes: BytesMut = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    let shape: Vec<(u32, &str, usize)> = decode_all(&mut bytes)
        .iter()
        .map(|f| match f {
            Frame::Headers(h) if h.end_stream => (h.stream_id.get(), "trailers", 0),
            Frame::Headers(h) => (h.stream_id.get(), "headers", 0),
            Frame::Data(d) => (d.stream_id.get(), "data", d.data.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, "headers", 0),
            (3, "headers", 0),
            (1, "data", 16_384),
            (3, "data", 16_384),
            (1, "data", 16_384),
            (3, "data", 16_384),
            (1, "data", 7_232),
            (1, "trailers", 0),
            (3, "data", 7_232),
            (3, "trailers", 0),
        ]
    );
}

#[test]
fn a_stream_under_tight_windows_is_unblocked_by_window_updates() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.settings(Settings {
        initial_window_size: Some(1_000),
        ..Settings::default()
    });
    peer.request(1, "/big", true);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    frames(&mut conn);
    conn.send_headers(sid(1), StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    conn.send_data(sid(1), Bytes::from(vec![7; 5_000]), false)
        .unwrap();
    conn.send_trailers(sid(1), trailers("0")).unwrap();
    let data_lens = |frames: &[Frame]| -> Vec<usize> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Data(d) => Some(d.data.len()),
                _ => None,
            })
            .collect()
    };
    let out = frames(&mut conn);
    assert!(matches!(out[0], Frame::Headers(_)));
    assert_eq!(data_lens(&out), vec![1_000]);
    assert_eq!(conn.queued(sid(1)), 4_000);
    assert!(!conn.wants_transmit(), "blocked, not busy");
    // Each WINDOW_UPDATE lets exactly its increment out; the last one the trailers too.
    for (increment, expect) in [(300, vec![300]), (1_700, vec![1_700])] {
        encode::window_update(&mut peer.input, sid(1), increment);
        peer.send_to(&mut conn, t0);
        assert_eq!(data_lens(&frames(&mut conn)), expect);
    }
    // The connection window is the limit now: 65,535 - 3,000 left, so the stream's large
    // update lets out the remaining 2,000 and the trailers.
    encode::window_update(&mut peer.input, sid(1), 1_000_000);
    peer.send_to(&mut conn, t0);
    let out = frames(&mut conn);
    assert_eq!(data_lens(&out), vec![2_000]);
    assert!(matches!(out.last(), Some(Frame::Headers(h)) if h.end_stream));
    assert_eq!(conn.stream_count(), 0);
}

#[test]
fn the_connection_window_blocks_every_stream_until_it_is_updated() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.settings(Settings {
        initial_window_size: Some(1_000_000),
        ..Settings::default()
    });
    peer.request(1, "/a", true);
    peer.request(3, "/b", true);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    frames(&mut conn);
    for id in [1, 3] {
        conn.send_headers(sid(id), StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
        conn.send_data(sid(id), Bytes::from(vec![1; 40_000]), true)
            .unwrap();
    }
    let sent: usize = frames(&mut conn)
        .iter()
        .map(|f| match f {
            Frame::Data(d) => d.data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, 65_535);
    encode::window_update(&mut peer.input, sid(0), 14_465);
    peer.send_to(&mut conn, t0);
    let out = frames(&mut conn);
    let sent: usize = out
        .iter()
        .map(|f| match f {
            Frame::Data(d) => d.data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(sent, 14_465);
    assert_eq!(
        conn.stream_count(),
        0,
        "both streams ended with their last DATA"
    );
}

#[test]
fn received_data_is_credited_back_per_the_flow_policy() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/up", false);
    for _ in 0..2 {
        peer.data(1, &[0; 10_000], false);
    }
    peer.send_to(&mut conn, t0);
    assert_eq!(events(&mut conn).len(), 3);
    // 20,000 bytes: more than a quarter of the connection window, topped up whatever the
    // application does; the stream waits for the application.
    assert_eq!(
        frames(&mut conn),
        vec![Frame::WindowUpdate {
            stream_id: sid(0),
            increment: 20_000
        }]
    );
    conn.release_capacity(sid(1), 10_000);
    assert!(frames(&mut conn).is_empty(), "under a quarter of 65,535");
    conn.release_capacity(sid(1), 10_000);
    assert_eq!(
        frames(&mut conn),
        vec![Frame::WindowUpdate {
            stream_id: sid(1),
            increment: 20_000
        }]
    );
    // Past the stream's window (65,535 again): a stream error, and the connection goes on.
    // One read per frame, so the connection window is topped up in between.
    let mut out = Vec::new();
    for _ in 0..5 {
        peer.data(1, &[0; 16_384], false);
        peer.send_to(&mut conn, t0);
        out.extend(frames(&mut conn));
    }
    assert!(
        out.contains(&rst(1, ErrorCode::FlowControlError)),
        "{out:?}"
    );
    assert!(events(&mut conn).contains(&Event::Reset {
        stream: sid(1),
        code: ErrorCode::FlowControlError,
        remote: false
    }));
    assert!(!conn.is_closed());
}

#[test]
fn a_header_block_joined_across_continuation() {
    let (mut conn, mut peer, t0) = open_server(config());
    let mut fields = grpc_request("/svc/Method");
    let big = "x".repeat(3_000);
    fields.push(("x-big", &big));
    let block = peer.block(&fields);
    let (first, rest) = block.split_at(1_000);
    let mut input = BytesMut::new();
    encode::frame_header(
        &mut input,
        super::super::super::frame::FrameHeader::new(
            super::super::super::frame::kind::HEADERS,
            super::super::super::frame::flags::END_STREAM,
            sid(1),
            first.len() as u32,
        ),
    );
    input.extend_from_slice(first);
    for (i, chunk) in rest.chunks(1_000).enumerate() {
        let last = (i + 1) * 1_000 >= rest.len();
        encode::frame_header(
            &mut input,
            super::super::super::frame::FrameHeader::new(
                super::super::super::frame::kind::CONTINUATION,
                if last {
                    super::super::super::frame::flags::END_HEADERS
                } else {
                    0
                },
                sid(1),
                chunk.len() as u32,
            ),
        );
        input.extend_from_slice(chunk);
    }
    // Byte by byte: the block waits, nothing is lost.
    let total = input.len();
    let mut fed = BytesMut::new();
    for i in 0..total {
        fed.extend_from_slice(&input[i..=i]);
        conn.recv(&mut fed, t0);
        if i + 1 < total {
            assert!(events(&mut conn).is_empty());
        }
    }
    let evs = events(&mut conn);
    let [Event::Request {
        stream,
        head,
        end_stream: true,
    }] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(*stream, sid(1));
    assert_eq!(head.headers["x-big"], big.as_str());
}

#[test]
fn an_unfinished_header_block_times_out() {
    let (mut conn, mut peer, t0) = open_server(config());
    let block = peer.block(&grpc_request("/a"));
    encode::frame_header(
        &mut peer.input,
        super::super::super::frame::FrameHeader::new(
            super::super::super::frame::kind::HEADERS,
            0,
            sid(1),
            block.len() as u32,
        ),
    );
    peer.input.extend_from_slice(&block);
    peer.send_to(&mut conn, t0 + secs(1));
    assert_eq!(conn.next_timeout(), Some(t0 + secs(11)));
    conn.handle_timeout(t0 + secs(11));
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::EnhanceYourCalm,
            "header_block_timeout"
        )]
    );
}

#[test]
fn hpack_sees_every_block_even_for_refused_and_reset_streams() {
    let mut cfg = config();
    cfg.max_concurrent_streams = 1;
    // Stream 1's handler runs; reading on regardless is what lets stream 3 be refused.
    cfg.limits.pause_at_handlers = false;
    let (mut conn, mut peer, t0) = open_server(cfg);
    // Stream 1 holds the only slot; stream 3 is refused, but its block adds "x-new" to the
    // peer's dynamic table, and stream 5's block refers to it by index.
    peer.request(1, "/a", false);
    let mut fields = grpc_request("/b");
    fields.push(("user-agent", "refused-agent"));
    peer.headers(3, &fields, true);
    peer.send_to(&mut conn, t0);
    assert_eq!(frames(&mut conn), vec![rst(3, ErrorCode::RefusedStream)]);
    assert_eq!(events(&mut conn).len(), 1);
    conn.reset(sid(1), ErrorCode::Cancel).unwrap();
    assert_eq!(frames(&mut conn), vec![rst(1, ErrorCode::Cancel)]);
    // A late DATA on the stream we reset is discarded quietly.
    peer.data(1, b"late", true);
    peer.headers(5, &fields, true);
    peer.send_to(&mut conn, t0);
    let evs = events(&mut conn);
    let [Event::Request { head, .. }] = &evs[..] else {
        panic!("{evs:?}")
    };
    assert_eq!(head.headers["user-agent"], "refused-agent");
    assert!(frames(&mut conn).is_empty());
}

#[test]
fn malformed_requests_are_stream_errors() {
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("missing :method", vec![(":scheme", "http"), (":path", "/")]),
        (
            "missing :path",
            vec![(":method", "POST"), (":scheme", "http")],
        ),
        ("missing :scheme", vec![(":method", "POST"), (":path", "/")]),
        (
            "empty :path",
            vec![(":method", "POST"), (":scheme", "http"), (":path", "")],
        ),
        (
            "repeated pseudo-header",
            vec![
                (":method", "POST"),
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
            ],
        ),
        (
            "unknown pseudo-header",
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                (":foo", "bar"),
            ],
        ),
        (
            "response pseudo-header",
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                (":status", "200"),
            ],
        ),
        (
            "pseudo after regular",
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                ("content-type", "application/grpc"),
                (":path", "/"),
            ],
        ),
        (
            "uppercase name",
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                ("Content-Type", "x"),
            ],
        ),
        (
            "connection header",
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                ("connection", "keep-alive"),
            ],
        ),
        (
            "te not trailers",
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                ("te", "gzip"),
            ],
        ),
        (
            "bad content-length",
            vec![
                (":method", "POST"),
                (":scheme", "http"),
                (":path", "/"),
                ("content-length", "12a"),
            ],
        ),
    ];
    let (mut conn, mut peer, t0) = open_server(config());
    let mut id = 1;
    for (what, fields) in &cases {
        peer.headers(id, fields, true);
        peer.send_to(&mut conn, t0);
        assert_eq!(
            frames(&mut conn),
            vec![rst(id, ErrorCode::ProtocolError)],
            "{what}"
        );
        assert!(events(&mut conn).is_empty(), "{what}");
        id += 2;
    }
    // Invalid UTF-8 in :path: the stream's error, not the connection's (h2 ended it).
    let mut block = BytesMut::new();
    peer.enc.encode(
        [
            EncodeField::new(b":method", b"POST"),
            EncodeField::new(b":scheme", b"http"),
            EncodeField::new(b":path", b"/\xff\xfe"),
        ],
        &mut block,
    );
    encode::headers(&mut peer.input, sid(id), &block, true, 16_384);
    peer.send_to(&mut conn, t0);
    assert_eq!(frames(&mut conn), vec![rst(id, ErrorCode::ProtocolError)]);
    assert!(!conn.is_closed());
    // And the connection still serves a good request.
    peer.request(id + 2, "/ok", true);
    peer.send_to(&mut conn, t0);
    assert!(matches!(&events(&mut conn)[..], [Event::Request { .. }]));
}

#[test]
fn content_length_must_match_the_data() {
    let (mut conn, mut peer, t0) = open_server(config());
    let mut fields = grpc_request("/a");
    fields.push(("content-length", "10"));
    peer.headers(1, &fields, false);
    peer.data(1, b"12345", true);
    peer.headers(3, &fields, false);
    peer.data(3, &[0; 11], false);
    peer.headers(5, &fields, false);
    peer.data(5, &[0; 10], true);
    peer.send_to(&mut conn, t0);
    let out = frames(&mut conn);
    assert_eq!(
        out,
        vec![
            rst(1, ErrorCode::ProtocolError),
            rst(3, ErrorCode::ProtocolError)
        ]
    );
    let evs = events(&mut conn);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Event::Reset { remote: false, .. }))
            .count(),
        2
    );
    assert!(evs.contains(&Event::Data {
        stream: sid(5),
        data: Bytes::from(vec![0; 10]),
        end_stream: true
    }));
}

#[test]
fn trailers_from_the_client_and_their_rules() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/a", false);
    peer.headers(1, &[("x-trailer", "1")], true);
    // Trailers without END_STREAM, and trailers with a pseudo-header.
    peer.request(3, "/b", false);
    peer.headers(3, &[("x-trailer", "1")], false);
    peer.request(5, "/c", false);
    peer.headers(5, &[(":path", "/d")], true);
    peer.send_to(&mut conn, t0);
    let mut map = HeaderMap::new();
    map.insert("x-trailer", HeaderValue::from_static("1"));
    let evs = events(&mut conn);
    assert!(evs.contains(&Event::Trailers {
        stream: sid(1),
        headers: map
    }));
    assert_eq!(
        frames(&mut conn),
        vec![
            rst(3, ErrorCode::ProtocolError),
            rst(5, ErrorCode::ProtocolError)
        ]
    );
}

#[test]
fn resets_both_ways() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/a", false);
    peer.request(3, "/b", false);
    encode::rst_stream(&mut peer.input, sid(1), ErrorCode::Cancel);
    peer.send_to(&mut conn, t0);
    let evs = events(&mut conn);
    assert_eq!(
        evs.last(),
        Some(&Event::Reset {
            stream: sid(1),
            code: ErrorCode::Cancel,
            remote: true
        })
    );
    assert_eq!(
        conn.send_headers(sid(1), StatusCode::OK, &HeaderMap::new(), false),
        Err(SendError::UnknownStream)
    );
    conn.send_headers(sid(3), StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    conn.send_data(sid(3), Bytes::from_static(b"dropped"), false)
        .unwrap();
    conn.reset(sid(3), ErrorCode::InternalError).unwrap();
    let out = frames(&mut conn);
    assert!(matches!(out[0], Frame::Headers(_)));
    assert_eq!(out[1..], [rst(3, ErrorCode::InternalError)]);
    // RST_STREAM on an idle stream is a connection error.
    encode::rst_stream(&mut peer.input, sid(9), ErrorCode::Cancel);
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            3,
            ErrorCode::ProtocolError,
            "RST_STREAM on an idle stream"
        )]
    );
}

#[test]
fn pings_are_acked_and_ours_come_back_as_events() {
    let (mut conn, mut peer, t0) = open_server(config());
    encode::ping(&mut peer.input, *b"abcdefgh", false);
    encode::ping(&mut peer.input, *b"ours0001", true);
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![Frame::Ping {
            ack: true,
            payload: *b"abcdefgh"
        }]
    );
    assert_eq!(
        events(&mut conn),
        vec![Event::PingAck {
            payload: *b"ours0001"
        }]
    );
    conn.ping(*b"12345678");
    assert_eq!(
        frames(&mut conn),
        vec![Frame::Ping {
            ack: false,
            payload: *b"12345678"
        }]
    );
}

#[test]
fn graceful_goaway_in_two_phases() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/a", true);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    conn.go_away(ErrorCode::NoError, t0);
    assert_eq!(
        frames(&mut conn),
        vec![
            goaway(MAX_STREAM_ID, ErrorCode::NoError, ""),
            Frame::Ping {
                ack: false,
                payload: *b"tern-gwy"
            }
        ]
    );
    assert_eq!(conn.next_timeout(), Some(t0 + secs(5)));
    // A request sent before the client saw the GOAWAY is still served.
    peer.request(3, "/b", true);
    encode::ping(&mut peer.input, *b"tern-gwy", true);
    peer.request(5, "/too-late", true);
    peer.send_to(&mut conn, t0);
    let evs = events(&mut conn);
    assert_eq!(
        evs.len(),
        1,
        "stream 5 came after the final GOAWAY: {evs:?}"
    );
    assert_eq!(frames(&mut conn), vec![goaway(3, ErrorCode::NoError, "")]);
    for id in [1, 3] {
        conn.send_headers(sid(id), StatusCode::OK, &HeaderMap::new(), true)
            .unwrap();
    }
    assert_eq!(frames(&mut conn).len(), 2);
    assert_eq!(events(&mut conn), vec![Event::Closed { error: None }]);
    assert!(conn.is_closed());
}

#[test]
fn graceful_goaway_without_a_ping_ack_goes_on_after_the_timeout() {
    let (mut conn, _peer, t0) = open_server(config());
    conn.go_away(ErrorCode::NoError, t0);
    frames(&mut conn);
    conn.handle_timeout(t0 + secs(5));
    assert_eq!(frames(&mut conn), vec![goaway(0, ErrorCode::NoError, "")]);
    assert_eq!(events(&mut conn), vec![Event::Closed { error: None }]);
}

#[test]
fn a_goaway_received_is_an_event() {
    let (mut conn, mut peer, t0) = open_server(config());
    encode::goaway(&mut peer.input, sid(0), ErrorCode::NoError, b"bye");
    peer.send_to(&mut conn, t0);
    assert_eq!(
        events(&mut conn),
        vec![Event::GoAway {
            last_stream_id: sid(0),
            code: ErrorCode::NoError,
            debug_data: Bytes::from_static(b"bye")
        }]
    );
}

#[test]
fn push_promise_and_a_bad_hpack_block_end_the_connection() {
    let (mut conn, mut peer, t0) = open_server(config());
    // Index 70 does not exist: the tables can no longer agree.
    encode::headers(&mut peer.input, sid(1), &[0x80 | 70], true, 16_384);
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::CompressionError,
            "HPACK decoding failed"
        )]
    );
    let mut input = BytesMut::new();
    input.extend_from_slice(b"more bytes after the close");
    conn.recv(&mut input, t0);
    assert!(input.is_empty() && frames(&mut conn).is_empty());
}

#[test]
fn a_response_that_ends_before_the_request_resets_it_with_no_error() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/client-stream", false);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    // A Trailers-Only error answer while the client is still sending.
    let mut status = HeaderMap::new();
    status.insert("grpc-status", HeaderValue::from_static("3"));
    conn.send_headers(sid(1), StatusCode::OK, &status, true)
        .unwrap();
    let out = frames(&mut conn);
    assert!(matches!(out[0], Frame::Headers(ref h) if h.end_stream));
    assert_eq!(out[1..], [rst(1, ErrorCode::NoError)]);
    assert_eq!(conn.stream_count(), 0);
    // What the client sent before it saw the reset is discarded quietly.
    peer.data(1, &grpc_message(b"late"), true);
    peer.send_to(&mut conn, t0);
    assert!(events(&mut conn).is_empty());
    assert!(frames(&mut conn).is_empty());
}

#[test]
fn keepalive_pings_after_silence_and_closes_without_an_ack() {
    let (mut conn, mut peer, t0) = open_server(config());
    let two_hours = secs(2 * 60 * 60);
    // A frame from the peer restarts the silence.
    encode::ping(&mut peer.input, *b"12345678", false);
    peer.send_to(&mut conn, t0 + secs(60));
    frames(&mut conn);
    assert_eq!(conn.next_timeout(), Some(t0 + secs(60) + two_hours));
    conn.handle_timeout(t0 + secs(60) + two_hours);
    let ping = Frame::Ping {
        ack: false,
        payload: *b"tern-kal",
    };
    assert_eq!(frames(&mut conn), vec![ping.clone()]);
    // Acked: the next one is due two hours after the ack.
    let acked = t0 + secs(70) + two_hours;
    encode::ping(&mut peer.input, *b"tern-kal", true);
    peer.send_to(&mut conn, acked);
    assert!(
        events(&mut conn).is_empty(),
        "our keepalive ack is no event"
    );
    assert_eq!(conn.next_timeout(), Some(acked + two_hours));
    conn.handle_timeout(acked + two_hours);
    assert_eq!(frames(&mut conn), vec![ping]);
    // Not acked within 20 s: closed.
    conn.handle_timeout(acked + two_hours + secs(20));
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::NoError,
            "keepalive ping not acknowledged"
        )]
    );
    assert!(conn.is_closed());
}

#[test]
fn bdp_estimation_grows_the_windows_to_the_measured_product() {
    use std::time::Duration;
    let mut cfg = config();
    cfg.bdp_limit = Some(16 << 20);
    let (mut conn, mut peer, t0) = open_server(cfg);
    let bdp_ping = |ack| Frame::Ping {
        ack,
        payload: *b"tern-bdp",
    };
    peer.request(1, "/upload", false);
    // The first DATA of a cycle sends the PING; 60,000 bytes arrive before its ack.
    peer.data(1, &[0; 15_000], false);
    peer.data(1, &[0; 15_000], false);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    assert_eq!(
        frames(&mut conn),
        vec![
            bdp_ping(false),
            Frame::WindowUpdate {
                stream_id: sid(0),
                increment: 30_000
            }
        ]
    );
    peer.data(1, &[0; 15_000], false);
    peer.data(1, &[0; 15_000], false);
    peer.send_to(&mut conn, t0 + Duration::from_millis(5));
    assert_eq!(events(&mut conn).len(), 2);
    assert_eq!(
        frames(&mut conn).len(),
        1,
        "a connection WINDOW_UPDATE, no new PING"
    );
    // Ack after 10 ms: 60,000 ≥ 2/3 of 65,535, so the estimate becomes 120,000.
    encode::ping(&mut peer.input, *b"tern-bdp", true);
    peer.send_to(&mut conn, t0 + Duration::from_millis(10));
    assert!(events(&mut conn).is_empty(), "our BDP ack is no event");
    assert_eq!(
        frames(&mut conn),
        vec![
            Frame::Settings(Settings {
                initial_window_size: Some(120_000),
                ..Settings::default()
            }),
            Frame::WindowUpdate {
                stream_id: sid(0),
                increment: 120_000 - 65_535
            }
        ]
    );
    assert_eq!(
        conn.next_timeout(),
        Some(t0 + Duration::from_millis(10) + secs(10))
    );
    // At the ack the stream windows move: stream 1 has 120,000 - 60,000 unreleased left.
    encode::settings_ack(&mut peer.input);
    peer.send_to(&mut conn, t0 + Duration::from_millis(11));
    let window = conn
        .streams
        .get(sid(1))
        .map(|s| conn.flow.stream_recv_window(&s.flow));
    assert_eq!(window, Some(60_000));
    // A small sample does not shrink or grow anything.
    peer.data(1, &[0; 1_000], false);
    peer.send_to(&mut conn, t0 + Duration::from_millis(20));
    assert_eq!(frames(&mut conn), vec![bdp_ping(false)]);
    encode::ping(&mut peer.input, *b"tern-bdp", true);
    peer.send_to(&mut conn, t0 + Duration::from_millis(30));
    assert!(frames(&mut conn).is_empty());
}

#[test]
fn a_batch_is_capped_and_large_payloads_are_not_copied() {
    let mut cfg = config();
    cfg.max_batch_bytes = 40_000;
    let (mut conn, mut peer, t0) = open_server(cfg);
    peer.settings(Settings {
        initial_window_size: Some(1 << 20),
        ..Settings::default()
    });
    encode::window_update(&mut peer.input, sid(0), 1 << 20);
    for id in [1, 3, 5] {
        peer.request(id, "/a", true);
    }
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    frames(&mut conn);
    let payload = Bytes::from(vec![9u8; 100_000]);
    for id in [1, 3, 5] {
        conn.send_headers(sid(id), StatusCode::OK, &HeaderMap::new(), false)
            .unwrap();
        conn.send_data(sid(id), payload.clone(), true).unwrap();
    }
    let mut batches = Vec::new();
    while conn.wants_transmit() {
        let mut chunks = Vec::new();
        conn.poll_transmit(&mut chunks);
        // Every 16 KiB slice is a view of the caller's allocation.
        let range = payload.as_ptr() as usize..payload.as_ptr() as usize + payload.len();
        let shared = chunks
            .iter()
            .filter(|c| range.contains(&(c.as_ptr() as usize)))
            .count();
        let mut bytes: BytesMut = chunks.iter().flat_map(|c| c.iter().copied()).collect();
        let data: usize = decode_all(&mut bytes)
            .iter()
            .map(|f| match f {
                Frame::Data(d) => d.data.len(),
                _ => 0,
            })
            .sum();
        batches.push((data, shared));
    }
    // 40,000 bytes a batch: three 16 KiB slices (the third passes the cap), then the rest.
    assert_eq!(batches.len(), 7, "{batches:?}");
    assert!(batches.iter().all(|(data, _)| *data <= 3 * 16_384));
    assert_eq!(batches.iter().map(|(d, _)| d).sum::<usize>(), 300_000);
    assert_eq!(batches[0], (3 * 16_384, 3));
    assert_eq!(conn.stream_count(), 0);
}

#[test]
fn blocks_of_streams_ignored_after_our_goaway_still_go_through_hpack() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/a", false);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    conn.go_away(ErrorCode::NoError, t0);
    encode::ping(&mut peer.input, *b"tern-gwy", true);
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn).last(),
        Some(&goaway(1, ErrorCode::NoError, ""))
    );
    // Stream 3 came too late and is ignored, but its block puts "user-agent: late" in the
    // table, and stream 1's trailers refer to it by index.
    let mut fields = grpc_request("/b");
    fields.push(("user-agent", "late"));
    peer.headers(3, &fields, true);
    peer.headers(1, &[("user-agent", "late")], true);
    peer.send_to(&mut conn, t0);
    let mut expected = HeaderMap::new();
    expected.insert("user-agent", HeaderValue::from_static("late"));
    assert_eq!(
        events(&mut conn),
        vec![Event::Trailers {
            stream: sid(1),
            headers: expected
        }]
    );
    assert!(frames(&mut conn).is_empty());
}
