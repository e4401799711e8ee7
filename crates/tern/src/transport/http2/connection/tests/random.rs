//! Random frame sequences against a server connection whose application answers every
//! request: no panic, and the memory the connection holds stays bounded, whatever arrives and
//! however it is cut into reads. The generator is xorshift so a failing seed reproduces;
//! `TERN_CONN_CASES` sets how many sequences run (2,000 by default); `TERN_CONN_DEBUG` prints
//! why each closed connection closed (to tune the generator).

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};

use super::super::super::frame::{encode, kind, ErrorCode, FrameHeader, Settings};
use super::super::Event;
use super::*;

/// xorshift64* (Vigna): small, fast, and good enough to pick test inputs.
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

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One random frame, valid more often than not: requests on increasing ids, other frames
/// mostly on streams already opened.
fn random_frame(rng: &mut Rng, peer: &mut Peer, opened: &mut u32, out: &mut BytesMut) {
    let mut id = if *opened == 0 {
        1
    } else {
        (rng.below(u64::from(*opened).div_ceil(2)) * 2 + 1) as u32
    };
    if rng.below(30) == 0 {
        id = rng.below(20) as u32 + 1;
    }
    let pick = if *opened == 0 { 0 } else { rng.below(14) };
    match pick {
        0..=2 => {
            *opened += 2;
            peer.request(*opened - 1, "/svc/M", rng.below(3) == 0);
        }
        3 | 4 => {
            let len = rng.below(300) as usize;
            let payload = rng.bytes(len);
            encode::data(out, sid(id), &payload, rng.below(4) == 0)
        }
        12 => peer.headers(id, &[("grpc-status", "0")], rng.below(2) == 0),
        5 => encode::rst_stream(out, sid(id), ErrorCode::Cancel),
        6 => encode::window_update(
            out,
            sid(id * (rng.below(2) as u32)),
            rng.below(70_000) as u32 + 1,
        ),
        7 => encode::settings(
            out,
            &Settings {
                initial_window_size: Some(rng.below(100_000) as u32),
                max_frame_size: (rng.below(2) == 0).then_some(16_384 + rng.below(1000) as u32),
                header_table_size: Some(rng.below(8192) as u32),
                ..Settings::default()
            },
        ),
        8 => encode::ping(out, [rng.below(256) as u8; 8], rng.below(4) == 0),
        9 | 10 => encode::window_update(out, sid(0), rng.below(70_000) as u32 + 1),
        _ if rng.below(2) == 0 => encode::ping(out, *b"tern-gwy", true),
        _ => {
            // Anything: a random type, flags and payload.
            let len = rng.below(40) as usize;
            let payload = rng.bytes(len);
            let kind = if rng.below(4) == 0 {
                kind::CONTINUATION
            } else {
                rng.below(12) as u8
            };
            encode::frame_header(
                out,
                FrameHeader::new(kind, rng.next() as u8, sid(id), payload.len() as u32),
            );
            out.extend_from_slice(&payload);
        }
    }
    out.extend_from_slice(&peer.input.split());
}

/// Runs one sequence; returns (requests answered, whether the connection survived).
fn run_case(seed: u64) -> (usize, bool) {
    let mut rng = Rng::new(seed);
    let t0 = Instant::now();
    let mut now = t0;
    let mut cfg = config();
    if seed % 2 == 1 {
        cfg.bdp_limit = Some(16 << 20);
    }
    let mut conn = Connection::server(cfg, t0);
    let mut peer = Peer::new();
    let mut input = BytesMut::new();
    peer.handshake();
    input.extend_from_slice(&peer.input.split());
    let mut opened = 0;
    for _ in 0..rng.below(60) {
        random_frame(&mut rng, &mut peer, &mut opened, &mut input);
    }
    if rng.below(10) == 0 {
        // Garbage at the end, or a flipped byte anywhere.
        let at = rng.below(input.len() as u64) as usize;
        if let Some(b) = input.get_mut(at) {
            *b ^= 1 << rng.below(8);
        }
    }
    let mut read = BytesMut::new();
    let mut chunks = Vec::new();
    let mut requests = 0;
    while !input.is_empty() || !read.is_empty() {
        let n = (rng.below(200) as usize + 1).min(input.len());
        read.extend_from_slice(&input.split_to(n));
        let before = read.len();
        conn.recv(&mut read, now);
        if conn.is_closed() {
            assert!(read.is_empty());
            if std::env::var("TERN_CONN_DEBUG").is_ok() {
                if let Some(e) = conn
                    .events
                    .iter()
                    .find(|e| matches!(e, Event::Closed { .. }))
                {
                    println!("closed: {e:?}");
                }
            }
        }
        while let Some(event) = conn.poll_event() {
            if let Event::Request { stream, .. } = event {
                requests += 1;
                let _ = conn.send_headers(stream, StatusCode::OK, &HeaderMap::new(), false);
                let _ = conn.send_data(stream, Bytes::from(vec![1; 20_000]), false);
                let _ = conn.send_trailers(stream, HeaderMap::new());
            }
            if let Event::Data { stream, data, .. } = event {
                conn.release_capacity(stream, data.len());
            }
        }
        if rng.below(3) == 0 || !conn.wants_read() {
            chunks.clear();
            conn.poll_transmit(&mut chunks);
        }
        if rng.below(5) == 0 {
            now += Duration::from_millis(rng.below(3_000));
            conn.handle_timeout(now);
        }
        assert!(conn.out.len() < 1 << 20, "seed {seed}: output unbounded");
        assert!(
            conn.blocked.len() < 200,
            "seed {seed}: blocked list unbounded"
        );
        if input.is_empty() && read.len() == before && conn.wants_read() {
            // Only a partial frame is left.
            break;
        }
    }
    if std::env::var("TERN_CONN_DEBUG").is_ok() {
        while let Some(e) = conn.poll_event() {
            println!("{e:?}");
        }
    }
    (requests, !conn.is_closed())
}

#[test]
fn random_frame_sequences_never_panic_and_stay_bounded() {
    let cases = std::env::var("TERN_CONN_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000u64);
    let (mut requests, mut survived) = (0, 0);
    for seed in 0..cases {
        let (r, alive) = run_case(seed);
        requests += r;
        survived += usize::from(alive);
    }
    // The sequences reach past the first frames: requests are answered, and some
    // connections live to the end.
    assert!(
        requests as u64 >= cases,
        "{requests} requests in {cases} cases"
    );
    assert!(
        survived as u64 >= cases / 10,
        "{survived} of {cases} survived"
    );
    println!("{requests} requests, {survived} of {cases} connections survived");
}

#[test]
fn a_window_update_flood_keeps_the_blocked_list_bounded() {
    let (mut conn, mut peer, t0) = open_server(config());
    peer.request(1, "/a", true);
    peer.send_to(&mut conn, t0);
    events(&mut conn);
    conn.send_headers(sid(1), StatusCode::OK, &HeaderMap::new(), false)
        .unwrap();
    conn.send_data(sid(1), Bytes::from(vec![0; 200_000]), true)
        .unwrap();
    frames(&mut conn);
    // The connection window is spent; stream updates alone unblock nothing.
    for _ in 0..10_000 {
        encode::window_update(&mut peer.input, sid(1), 1);
    }
    peer.send_to(&mut conn, t0);
    assert!(frames(&mut conn).is_empty());
    assert_eq!(conn.blocked.len(), 1);
    assert_eq!(conn.ready.len(), 0);
}
