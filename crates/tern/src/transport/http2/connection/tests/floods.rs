//! The flood limits, each on the fake clock: the exact frames out when a budget runs out, and
//! bounds on the work done and the memory held while the flood lasts.

use std::time::Instant;

use bytes::BytesMut;
use http::{HeaderMap, StatusCode};

use super::super::super::frame::{encode, flags, kind, ErrorCode, Frame, FrameHeader};
use super::super::limits::Rate;
use super::super::{Config, Event};
use super::*;

fn rate(burst: u32, per_second: u32) -> Rate {
    Rate { burst, per_second }
}

fn raw_frame(dst: &mut BytesMut, kind: u8, flags: u8, id: u32, payload: &[u8]) {
    encode::frame_header(
        dst,
        FrameHeader::new(kind, flags, sid(id), payload.len() as u32),
    );
    dst.extend_from_slice(payload);
}

#[test]
fn continuation_flood_is_cut_at_the_frame_cap() {
    let cfg = config();
    // 16 KiB list / 16 KiB frames × 1.25 = 1.25, so the floor of 5 applies.
    assert_eq!(cfg.max_continuations(), 5);
    assert_eq!(
        Config {
            max_header_list_size: 1 << 20,
            ..config()
        }
        .max_continuations(),
        80
    );
    let (mut conn, mut peer, t0) = open_server(cfg);
    let block = peer.block(&grpc_request("/a"));
    raw_frame(&mut peer.input, kind::HEADERS, 0, 1, &block[..4]);
    // An endless trickle of 1-byte CONTINUATIONs: 5 are taken, the 6th ends it.
    for _ in 0..10_000 {
        raw_frame(&mut peer.input, kind::CONTINUATION, 0, 1, b"\x00");
    }
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::EnhanceYourCalm,
            "too_many_continuations"
        )]
    );
    assert!(conn.is_closed());
    assert!(peer.input.is_empty(), "the rest is discarded, not parsed");
    assert!(conn.block.is_none());
}

#[test]
fn a_header_block_over_twice_the_list_limit_ends_the_connection_a_long_list_gets_431() {
    let mut cfg = config();
    cfg.max_header_list_size = 4_096;
    let (mut conn, mut peer, t0) = open_server(cfg);
    // The cap is twice the list limit, but at least one whole frame: 16,384 here.
    raw_frame(&mut peer.input, kind::HEADERS, 0, 1, &[0; 16_000]);
    raw_frame(&mut peer.input, kind::CONTINUATION, 0, 1, &[0; 1_000]);
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            0,
            ErrorCode::EnhanceYourCalm,
            "header_block_too_large"
        )]
    );
    // A header list over the limit but within the block cap: the stream is refused, the
    // connection (and HPACK) go on.
    let (mut conn, mut peer, t0) = open_server(Config {
        max_header_list_size: 4_096,
        ..config()
    });
    let big = "v".repeat(5_000);
    let mut fields = grpc_request("/a");
    fields.push(("x-big", &big));
    peer.headers(1, &fields, true);
    peer.headers(3, &fields, false);
    peer.request(5, "/b", true);
    peer.send_to(&mut conn, t0);
    // 431 and no handler; a request still open is also reset with NO_ERROR.
    let out = frames(&mut conn);
    assert_eq!(out.len(), 3, "{out:?}");
    for (i, id) in [(0, 1), (1, 3)] {
        let Frame::Headers(h) = &out[i] else {
            panic!("{out:?}")
        };
        assert!(h.end_stream && h.stream_id == sid(id));
        assert_eq!(
            peer.decode(&h.fragment),
            vec![(":status".to_string(), "431".to_string())]
        );
    }
    assert_eq!(out[2], rst(3, ErrorCode::NoError));
    assert!(matches!(&events(&mut conn)[..], [Event::Request { stream, .. }] if *stream == sid(5)));
    assert_eq!(conn.stream_count(), 1);
}

#[test]
fn rapid_reset_runs_out_of_its_budget() {
    let mut cfg = config();
    cfg.limits.peer_resets = rate(100, 10);
    let (mut conn, mut peer, t0) = open_server(cfg);
    let mut id = 1;
    let mut pair = |peer: &mut Peer, n: usize| {
        for _ in 0..n {
            peer.request(id, "/a", false);
            encode::rst_stream(&mut peer.input, sid(id), ErrorCode::Cancel);
            id += 2;
        }
    };
    pair(&mut peer, 100);
    peer.send_to(&mut conn, t0);
    assert!(frames(&mut conn).is_empty());
    assert_eq!(events(&mut conn).len(), 200, "100 requests, 100 resets");
    assert_eq!(conn.stream_count(), 0);
    // Half a second later 5 more are allowed; the 6th ends the connection.
    pair(&mut peer, 6);
    peer.send_to(&mut conn, t0 + Duration::from_millis(500));
    assert_eq!(
        frames(&mut conn),
        vec![goaway(211, ErrorCode::EnhanceYourCalm, "too_many_resets")]
    );
    let evs = events(&mut conn);
    assert_eq!(evs.len(), 5 * 2 + 1 + 1, "5 pairs, the 6th request, Closed");
    assert!(matches!(evs.last(), Some(Event::Closed { error: Some(_) })));
}

#[test]
fn resets_the_peer_forces_on_us_are_capped() {
    let mut cfg = config();
    cfg.limits.local_resets = rate(3, 1);
    let (mut conn, mut peer, t0) = open_server(cfg);
    // Each trailers-without-END_STREAM makes us reset the stream ("MadeYouReset").
    for id in [1, 3, 5, 7] {
        peer.request(id, "/a", false);
        peer.headers(id, &[("x-t", "1")], false);
    }
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![
            rst(1, ErrorCode::ProtocolError),
            rst(3, ErrorCode::ProtocolError),
            rst(5, ErrorCode::ProtocolError),
            goaway(7, ErrorCode::EnhanceYourCalm, "too_many_internal_resets"),
        ]
    );
}

#[test]
fn a_peer_that_never_reads_cannot_queue_unbounded_acks() {
    let mut cfg = config();
    // The ping policy would end this flood by itself; switch it off to see the throttle.
    cfg.limits.ping_min_interval = Duration::ZERO;
    cfg.limits.ping_permit_without_stream = true;
    let (mut conn, mut peer, t0) = open_server(cfg);
    for i in 0..10_000u32 {
        if i % 2 == 0 {
            encode::ping(&mut peer.input, [0; 8], false);
        } else {
            peer.settings(Default::default());
        }
    }
    let total = peer.input.len();
    peer.send_to(&mut conn, t0);
    // 100 answers queued, then reading stops: the rest stays in the caller's buffer.
    assert!(!conn.wants_read());
    assert_eq!(conn.out.len(), 50 * 17 + 50 * 9);
    let consumed = total - peer.input.len();
    assert_eq!(consumed, 50 * 17 + 50 * 9);
    // Calling recv again without transmitting does nothing.
    peer.send_to(&mut conn, t0);
    assert_eq!(total - peer.input.len(), consumed);
    // Each transmit lets another 100 in.
    let out = frames(&mut conn);
    assert_eq!(out.len(), 100);
    assert!(conn.wants_read());
    peer.send_to(&mut conn, t0);
    assert_eq!(frames(&mut conn).len(), 100);
    assert!(!conn.is_closed());
}

#[test]
fn tiny_data_frames_run_out_of_their_budget() {
    let mut cfg = config();
    cfg.limits.tiny_data = rate(10, 1);
    let (mut conn, mut peer, t0) = open_server(cfg);
    peer.request(1, "/a", false);
    // A real message (5-byte prefix) costs nothing; empty and 1-byte frames do.
    peer.data(1, &grpc_message(b""), false);
    for i in 0..11 {
        peer.data(1, &b"x"[..i % 2], false);
    }
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![goaway(
            1,
            ErrorCode::EnhanceYourCalm,
            "too_many_data_frames"
        )]
    );
    let data_events = events(&mut conn)
        .iter()
        .filter(|e| matches!(e, Event::Data { .. }))
        .count();
    assert_eq!(
        data_events, 11,
        "one message and 10 tiny frames got through"
    );
}

#[test]
fn glitches_run_out_of_their_budget() {
    let mut cfg = config();
    cfg.limits.glitches = rate(10, 1);
    let (mut conn, mut peer, t0) = open_server(cfg);
    peer.request(1, "/a", true);
    for i in 0..5 {
        // PRIORITY frames, unknown frame types, and a PRIORITY of the wrong length (a
        // stream error of the decoder's) all count: 3 + 3 + 2 + 2 + 1 = 11.
        raw_frame(&mut peer.input, kind::PRIORITY, 0, 1, &[0, 0, 0, 3, 16]);
        raw_frame(&mut peer.input, 0xbb, 0, 0, b"junk");
        if i < 2 {
            raw_frame(&mut peer.input, kind::PRIORITY, 0, 1, &[0, 0, 0, 0]);
        }
    }
    peer.send_to(&mut conn, t0);
    assert_eq!(
        frames(&mut conn),
        vec![
            rst(1, ErrorCode::FrameSizeError),
            rst(1, ErrorCode::FrameSizeError),
            goaway(1, ErrorCode::EnhanceYourCalm, "too_many_glitches"),
        ]
    );
    // The bad PRIORITY on an idle stream cannot be answered with RST_STREAM (§6.4): the
    // first one ends the connection before the budget does.
    let (mut conn, mut peer, t0) = open_server(config());
    raw_frame(&mut peer.input, kind::PRIORITY, 0, 3, &[0, 0, 0, 0]);
    peer.send_to(&mut conn, t0);
    assert!(matches!(
        &frames(&mut conn)[..],
        [Frame::GoAway(g)] if g.code == ErrorCode::FrameSizeError
    ));
}

#[test]
fn the_ping_policy_strikes_out_pings_closer_than_the_minimum_interval() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/long", false);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    let ping = |peer: &mut Peer, conn: &mut Connection, at: Instant| {
        encode::ping(&mut peer.input, *b"keepaliv", false);
        peer.send_to(conn, at);
        frames(conn)
    };
    let ack = Frame::Ping {
        ack: true,
        payload: *b"keepaliv",
    };
    // Five minutes apart: no strike.
    assert_eq!(ping(&mut peer, &mut conn, t0), vec![ack.clone()]);
    assert_eq!(
        ping(&mut peer, &mut conn, t0 + secs(300)),
        vec![ack.clone()]
    );
    // Two strikes are allowed...
    assert_eq!(
        ping(&mut peer, &mut conn, t0 + secs(301)),
        vec![ack.clone()]
    );
    assert_eq!(
        ping(&mut peer, &mut conn, t0 + secs(302)),
        vec![ack.clone()]
    );
    // ... sending HEADERS forgives them (the next PING is not judged) ...
    conn.send_headers(sid(1), StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    assert_eq!(frames(&mut conn).len(), 1);
    assert_eq!(
        ping(&mut peer, &mut conn, t0 + secs(303)),
        vec![ack.clone()]
    );
    assert_eq!(
        ping(&mut peer, &mut conn, t0 + secs(304)),
        vec![ack.clone()]
    );
    assert_eq!(
        ping(&mut peer, &mut conn, t0 + secs(305)),
        vec![ack.clone()]
    );
    // ... and the third strike since ends the connection, after the ack.
    assert_eq!(
        ping(&mut peer, &mut conn, t0 + secs(306)),
        vec![ack, goaway(1, ErrorCode::EnhanceYourCalm, "too_many_pings")]
    );
}

#[test]
fn with_no_stream_open_pings_are_expected_two_hours_apart() {
    let (mut conn, mut peer, t0) = open_server(config());
    for (i, at) in [0, 7_200, 14_400, 14_401, 14_402, 14_403]
        .into_iter()
        .enumerate()
    {
        encode::ping(&mut peer.input, [0; 8], false);
        peer.send_to(&mut conn, t0 + secs(at));
        let out = frames(&mut conn);
        // The last three are too soon: strikes 1, 2 and 3.
        assert_eq!(out.len(), if i == 5 { 2 } else { 1 }, "{out:?}");
    }
    assert!(conn.is_closed());
}

#[test]
fn the_end_stream_flag_on_a_tiny_frame_is_not_a_flood() {
    let mut cfg = config();
    cfg.limits.tiny_data = rate(1, 1);
    let (mut conn, mut peer, t0) = open_server(cfg);
    for id in (1..40).step_by(2) {
        peer.request(id, "/a", false);
        raw_frame(&mut peer.input, kind::DATA, flags::END_STREAM, id, b"");
    }
    peer.send_to(&mut conn, t0);
    assert!(frames(&mut conn).is_empty());
    assert!(!conn.is_closed());
}

#[test]
fn reading_pauses_while_every_stream_slot_has_a_running_handler() {
    let mut cfg = config();
    cfg.max_concurrent_streams = 4;
    let (mut conn, mut peer, t0) = open_server(cfg);
    // Rapid reset: each stream is reset at once, so the store's slots free immediately;
    // the handlers started for them have not returned yet.
    for id in (1..=19).step_by(2) {
        peer.request(id, "/a", false);
        encode::rst_stream(&mut peer.input, sid(id), ErrorCode::Cancel);
    }
    peer.send_to(&mut conn, t0);
    let started = |evs: &[Event]| -> Vec<u32> {
        evs.iter()
            .filter_map(|e| match e {
                Event::Request { stream, .. } => Some(stream.get()),
                _ => None,
            })
            .collect()
    };
    let evs = events(&mut conn);
    assert_eq!(started(&evs), vec![1, 3, 5, 7]);
    // Frames of the running streams are read (their resets reach the handlers); reading
    // stops in front of the HEADERS of stream 9.
    let resets = evs
        .iter()
        .filter(|e| matches!(e, Event::Reset { remote: true, .. }))
        .count();
    assert_eq!(resets, 4);
    assert!(!conn.wants_read());
    peer.send_to(&mut conn, t0);
    assert!(events(&mut conn).is_empty(), "still paused");
    conn.handler_done(sid(3));
    peer.send_to(&mut conn, t0);
    assert_eq!(started(&events(&mut conn)), vec![9]);
    for id in [1, 5, 7, 9] {
        conn.handler_done(sid(id));
    }
    peer.send_to(&mut conn, t0);
    assert_eq!(started(&events(&mut conn)), vec![11, 13, 15, 17]);
    assert!(
        frames(&mut conn).is_empty(),
        "nothing refused, nothing reset by us"
    );
}

#[test]
fn at_the_stream_limit_a_new_stream_is_refused_rather_than_paused_on() {
    let mut cfg = config();
    cfg.max_concurrent_streams = 2;
    let (mut conn, mut peer, t0) = open_server(cfg);
    // h2spec 5.1.2: one stream more than advertised, all still open.
    for id in [1, 3, 5] {
        peer.request(id, "/a", false);
    }
    peer.send_to(&mut conn, t0);
    assert_eq!(frames(&mut conn), vec![rst(5, ErrorCode::RefusedStream)]);
    assert_eq!(events(&mut conn).len(), 2);
    assert!(peer.input.is_empty());
}

#[test]
fn a_peer_opening_streams_without_end_gets_at_most_the_advertised_limit() {
    // Issue 11's first failure: h2 advertised no limit and one connection opened 200,000
    // streams. Here 3,000 requests get 1,024 handlers and 1,000 REFUSED_STREAMs, and a peer
    // that goes on ignoring the limit runs out of the local-reset budget.
    let (mut conn, mut peer, t0) = open_server(config());
    let mut refused = 0;
    let mut started = 0;
    let mut last = Vec::new();
    for id in (1..6_000).step_by(2) {
        peer.request(id, "/a", false);
        if id % 100 == 99 {
            peer.send_to(&mut conn, t0);
            assert!(peer.input.is_empty());
            started += events(&mut conn)
                .iter()
                .filter(|e| matches!(e, Event::Request { .. }))
                .count();
            let out = frames(&mut conn);
            refused += out
                .iter()
                .filter(|f| {
                    matches!(
                        f,
                        Frame::RstStream {
                            code: ErrorCode::RefusedStream,
                            ..
                        }
                    )
                })
                .count();
            last.extend(out.into_iter().filter(|f| matches!(f, Frame::GoAway(_))));
        }
    }
    assert_eq!((started, refused), (1_024, 1_000));
    assert_eq!(conn.stream_count(), 1_024, "the store never held more");
    assert_eq!(
        last,
        vec![goaway(
            4_049,
            ErrorCode::EnhanceYourCalm,
            "too_many_internal_resets"
        )]
    );
}

#[test]
fn settings_flips_with_every_stream_blocked_cost_no_stream_walk() {
    // Issue 11's second failure: with many streams open, SETTINGS flipping
    // INITIAL_WINDOW_SIZE cost h2 a walk of every stream each. Here 1,024 streams have data
    // blocked on a zero window; 10,000 flips between 0 and 1 re-queue them once.
    let (mut conn, mut peer, t0) = open_server(config());
    peer.settings(Settings {
        initial_window_size: Some(0),
        ..Settings::default()
    });
    for id in (1..2_048).step_by(2) {
        peer.request(id, "/a", true);
    }
    peer.send_to(&mut conn, t0);
    for event in events(&mut conn) {
        if let Event::Request { stream, .. } = event {
            conn.send_headers(stream, StatusCode::OK, &HeaderMap::new(), false)
                .unwrap();
            conn.send_data(stream, bytes::Bytes::from_static(b"blocked"), true)
                .unwrap();
        }
    }
    frames(&mut conn);
    assert_eq!((conn.blocked.len(), conn.ready.len()), (1_024, 0));
    for i in 0..10_000u32 {
        peer.settings(Settings {
            initial_window_size: Some(i % 2),
            ..Settings::default()
        });
        // The peer reads now and then, so the ack throttle does not pause us.
        if i % 50 == 49 {
            peer.send_to(&mut conn, t0);
            assert!(peer.input.is_empty());
            // Acks only: the re-queued streams are not transmitted in this test.
            let mut acks = conn.out.split();
            conn.peer_triggered = 0;
            assert_eq!(decode_all(&mut acks).len(), 50);
        }
        // Every stream was re-queued once, by the first raise; later raises find nothing
        // blocked, so no flip walks the streams.
        assert!(conn.blocked.len() + conn.ready.len() <= 1_024);
    }
    assert_eq!((conn.blocked.len(), conn.ready.len()), (0, 1_024));
}
