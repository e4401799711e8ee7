//! Tests of the flow-control windows: sending and receiving limits, the quarter-window update
//! policy, overflow, negative windows, and SETTINGS_INITIAL_WINDOW_SIZE changes costing the
//! same with 100,000 streams open as with one.

use std::cell::Cell;
use std::collections::HashMap;

use super::{Flow, StreamFlow, DEFAULT_WINDOW, MAX};
use crate::transport::http2::frame::{ErrorCode, H2Error, StreamId};

fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

fn is_conn_flow_error(result: Result<(), H2Error>) -> bool {
    matches!(
        result,
        Err(H2Error::Connection {
            code: ErrorCode::FlowControlError,
            ..
        })
    )
}

fn is_stream_flow_error(result: Result<(), H2Error>, id: u32) -> bool {
    matches!(result, Err(H2Error::Stream { id: i, code: ErrorCode::FlowControlError, .. }) if i == sid(id))
}

#[test]
fn sending_is_limited_by_the_smaller_window() {
    let mut flow = Flow::new();
    let (mut a, mut b) = (StreamFlow::new(), StreamFlow::new());
    assert_eq!(flow.sendable(&a), DEFAULT_WINDOW);
    flow.consume_send(&mut a, 60_000);
    assert_eq!(flow.sendable(&a), 5_535);
    assert_eq!(flow.sendable(&b), 5_535, "the connection window is shared");
    flow.consume_send(&mut b, 5_535);
    assert_eq!((flow.sendable(&a), flow.sendable(&b)), (0, 0));
    flow.recv_connection_window_update(100_000).unwrap();
    assert_eq!(flow.sendable(&a), 5_535);
    assert_eq!(flow.sendable(&b), 60_000);
    flow.recv_stream_window_update(&mut a, sid(1), 10).unwrap();
    assert_eq!(flow.sendable(&a), 5_545);
}

#[test]
fn window_overflow_is_a_stream_or_connection_error_as_the_rfc_says() {
    let mut flow = Flow::new();
    let max_increment = (MAX - i64::from(DEFAULT_WINDOW)) as u32;
    flow.recv_connection_window_update(max_increment).unwrap();
    assert_eq!(flow.send_window(), MAX);
    assert!(is_conn_flow_error(flow.recv_connection_window_update(1)));
    assert_eq!(flow.send_window(), MAX, "a refused update changes nothing");

    let mut stream = StreamFlow::new();
    flow.recv_stream_window_update(&mut stream, sid(3), max_increment)
        .unwrap();
    assert!(is_stream_flow_error(
        flow.recv_stream_window_update(&mut stream, sid(3), 1),
        3
    ));
    assert_eq!(flow.stream_send_window(&stream), MAX);
}

#[test]
fn initial_window_changes_move_every_stream_and_may_go_negative() {
    let mut flow = Flow::new();
    let mut streams = vec![StreamFlow::new(), StreamFlow::new()];
    flow.recv_connection_window_update(1 << 20).unwrap();
    flow.consume_send(&mut streams[0], 60_000);
    let offsets = |s: &[StreamFlow]| {
        let v: Vec<i64> = s.iter().map(StreamFlow::send_offset).collect();
        move |id: StreamId| v.get(id.get() as usize / 2).copied()
    };
    flow.set_peer_initial_window(16_384, offsets(&streams))
        .unwrap();
    assert_eq!(flow.stream_send_window(&streams[0]), 16_384 - 60_000);
    assert_eq!(flow.sendable(&streams[0]), 0);
    assert_eq!(flow.stream_send_window(&streams[1]), 16_384);
    // A WINDOW_UPDATE on a negative window counts from below zero (§6.9.2).
    flow.recv_stream_window_update(&mut streams[0], sid(1), 50_000)
        .unwrap();
    assert_eq!(flow.sendable(&streams[0]), 6_384);
    flow.set_peer_initial_window(100_000, offsets(&streams))
        .unwrap();
    assert_eq!(flow.stream_send_window(&streams[0]), 90_000);
    assert_eq!(flow.stream_send_window(&streams[1]), 100_000);
    // A stream that starts later starts at the current initial window.
    assert_eq!(flow.stream_send_window(&StreamFlow::new()), 100_000);
}

#[test]
fn an_initial_window_increase_that_overflows_a_raised_stream_is_refused() {
    let mut flow = Flow::new();
    let mut streams: HashMap<StreamId, StreamFlow> = HashMap::new();
    for id in [1, 3, 5] {
        streams.insert(sid(id), StreamFlow::new());
    }
    let to_max = (MAX - i64::from(DEFAULT_WINDOW)) as u32;
    let s3 = streams.get_mut(&sid(3)).unwrap();
    flow.recv_stream_window_update(s3, sid(3), to_max).unwrap();
    let lookup = |streams: &HashMap<StreamId, StreamFlow>| {
        let offsets: HashMap<StreamId, i64> = streams
            .iter()
            .map(|(id, s)| (*id, s.send_offset()))
            .collect();
        move |id: StreamId| offsets.get(&id).copied()
    };
    assert!(is_conn_flow_error(
        flow.set_peer_initial_window(65_536, lookup(&streams))
    ));
    assert_eq!(
        flow.peer_initial_window(),
        DEFAULT_WINDOW,
        "nothing changed"
    );
    // A decrease cannot overflow anything.
    flow.set_peer_initial_window(100, lookup(&streams)).unwrap();
    // Once stream 3 has sent, its entry is stale and the increase is allowed (up to its limit).
    let s3 = streams.get_mut(&sid(3)).unwrap();
    flow.recv_connection_window_update(1 << 30).unwrap();
    flow.consume_send(s3, 1_000);
    let limit = DEFAULT_WINDOW + 1_000;
    flow.set_peer_initial_window(limit, lookup(&streams))
        .unwrap();
    assert_eq!(flow.stream_send_window(&streams[&sid(3)]), MAX);
    assert!(is_conn_flow_error(
        flow.set_peer_initial_window(limit + 1, lookup(&streams))
    ));
    // Closed, it no longer counts.
    streams.remove(&sid(3));
    flow.set_peer_initial_window(MAX as u32, lookup(&streams))
        .unwrap();
}

/// The flood from issue 11: 100,000 open streams, 10,000 SETTINGS frames flipping
/// SETTINGS_INITIAL_WINDOW_SIZE. Each change must cost O(1): the work is counted in stream
/// lookups (no time is measured), and every window must be right afterwards.
#[test]
fn initial_window_flips_with_100_000_streams_cost_no_stream_walk() {
    const STREAMS: u32 = 100_000;
    let mut flow = Flow::new();
    flow.recv_connection_window_update(1 << 30).unwrap();
    let mut streams: Vec<StreamFlow> = (0..STREAMS).map(|_| StreamFlow::new()).collect();
    let id_of = |index: usize| sid(2 * index as u32 + 1);
    // Give the streams different offsets: some raised by WINDOW_UPDATE, some lowered by
    // sending, some raised and then sent on (their heap entries stale), the rest untouched.
    let mut expected = vec![0i64; streams.len()];
    for (index, stream) in streams.iter_mut().enumerate() {
        match index % 7 {
            0 => {
                let up = 1 + index as u32 % 5_000;
                flow.recv_stream_window_update(stream, id_of(index), up)
                    .unwrap();
                expected[index] += i64::from(up);
            }
            1 => {
                flow.consume_send(stream, 1 + index as u32 % 60_000);
                expected[index] -= 1 + (index % 60_000) as i64;
            }
            2 => {
                flow.recv_stream_window_update(stream, id_of(index), 3_000)
                    .unwrap();
                flow.consume_send(stream, 2_000);
                expected[index] += 1_000;
            }
            _ => {}
        }
    }
    let lookups = Cell::new(0u64);
    let offset_of = |id: StreamId| {
        lookups.set(lookups.get() + 1);
        streams
            .get(id.get() as usize / 2)
            .map(StreamFlow::send_offset)
    };
    flow.tidy(offset_of);
    let after_tidy = lookups.replace(0);
    assert!(
        after_tidy <= 2 * u64::from(STREAMS),
        "tidy visits heap entries once"
    );

    let mut size = 0;
    for flip in 0..10_000u32 {
        size = if flip % 2 == 0 {
            1 << 20
        } else {
            flip * 97 % (1 << 24)
        };
        flow.set_peer_initial_window(size, offset_of).unwrap();
    }
    // The first increase may drop the stale entries left since the tidy; after that, each
    // change asks about one stream at most.
    assert!(
        lookups.get() <= 10_000 + 2,
        "{} lookups for 10,000 changes",
        lookups.get()
    );
    for (index, stream) in streams.iter().enumerate() {
        let window = i64::from(size) + expected[index];
        assert_eq!(
            flow.stream_send_window(stream),
            window,
            "stream index {index}"
        );
    }
}

#[test]
fn the_raised_stream_memory_stays_bounded() {
    let mut flow = Flow::new();
    let mut stream = StreamFlow::new();
    for _ in 0..10_000 {
        flow.recv_stream_window_update(&mut stream, sid(1), 1)
            .unwrap();
        let offset = stream.send_offset();
        flow.tidy(|id| (id == sid(1)).then_some(offset));
        // One live entry after a tidy, so at most 2 * 1 + slack before the next.
        assert!(flow.raised.heap.len() <= 2 + super::RAISED_SLACK + 1);
    }
    // Many streams raised then closed: tidying forgets them.
    assert!(
        flow.raised.heap.len() > 1,
        "entries left for the closed-stream case to drop"
    );
    for id in 0..10_000u32 {
        let mut other = StreamFlow::new();
        flow.recv_stream_window_update(&mut other, sid(2 * id + 3), 5)
            .unwrap();
        flow.tidy(|_| None);
        assert!(flow.raised.heap.len() <= 2 + super::RAISED_SLACK + 1);
    }
    assert_eq!(flow.raised.tidied_len, 0);
}

#[test]
fn receiving_more_than_the_windows_is_an_error() {
    let mut flow = Flow::new();
    assert!(is_conn_flow_error(
        flow.recv_connection_data(DEFAULT_WINDOW + 1)
    ));
    flow.set_connection_recv_window(1 << 20);
    flow.recv_connection_data(DEFAULT_WINDOW + 1).unwrap();
    let mut stream = StreamFlow::new();
    assert!(is_stream_flow_error(
        flow.recv_stream_data(&mut stream, sid(1), DEFAULT_WINDOW + 1),
        1
    ));
    flow.recv_stream_data(&mut stream, sid(1), DEFAULT_WINDOW)
        .unwrap();
    assert!(is_stream_flow_error(
        flow.recv_stream_data(&mut stream, sid(1), 1),
        1
    ));
    flow.recv_stream_data(&mut stream, sid(1), 0).unwrap();
}

#[test]
fn the_connection_window_is_topped_up_at_a_quarter_whatever_the_application_reads() {
    let mut flow = Flow::new();
    let mut stream = StreamFlow::new();
    flow.recv_connection_data(16_382).unwrap();
    flow.recv_stream_data(&mut stream, sid(1), 16_382).unwrap();
    assert_eq!(flow.connection_window_update(), None);
    flow.recv_connection_data(1).unwrap();
    flow.recv_stream_data(&mut stream, sid(1), 1).unwrap();
    // 16,383 = 65,535 / 4 consumed, none released: the connection updates anyway.
    assert_eq!(flow.connection_window_update(), Some(16_383));
    assert_eq!(flow.recv_window(), i64::from(DEFAULT_WINDOW));
    assert_eq!(flow.connection_window_update(), None);
    // The stream waits for the application.
    assert_eq!(flow.stream_window_update(&mut stream), None);
    assert_eq!(stream.unreleased(), 16_383);
    flow.release(&mut stream, 10_000);
    assert_eq!(flow.stream_window_update(&mut stream), None);
    flow.release(&mut stream, 6_383);
    assert_eq!(flow.stream_window_update(&mut stream), Some(16_383));
    assert_eq!(flow.stream_recv_window(&stream), i64::from(DEFAULT_WINDOW));
    // Releasing more than was received is capped.
    flow.release(&mut stream, 5);
    assert_eq!(stream.unreleased(), 0);
}

#[test]
fn a_larger_connection_window_is_opened_at_once_and_used_as_the_target() {
    let mut flow = Flow::new();
    assert_eq!(
        flow.set_connection_recv_window(1 << 20),
        Some((1 << 20) - DEFAULT_WINDOW)
    );
    assert_eq!(flow.recv_window(), 1 << 20);
    flow.recv_connection_data(200_000).unwrap();
    assert_eq!(flow.connection_window_update(), None);
    flow.recv_connection_data(62_144).unwrap();
    assert_eq!(flow.connection_window_update(), Some(262_144));
    // A smaller target: no update until the window is a quarter below it.
    assert_eq!(flow.set_connection_recv_window(65_535), None);
    flow.recv_connection_data((1 << 20) - 65_535).unwrap();
    assert_eq!(flow.connection_window_update(), None);
    flow.recv_connection_data(16_383).unwrap();
    assert_eq!(flow.connection_window_update(), Some(16_383));
}

#[test]
fn our_initial_window_change_moves_every_stream_receive_window() {
    let mut flow = Flow::new();
    flow.set_connection_recv_window(MAX as u32);
    let mut streams: Vec<StreamFlow> = (0..1_000).map(|_| StreamFlow::new()).collect();
    flow.recv_stream_data(&mut streams[0], sid(1), 50_000)
        .unwrap();
    flow.set_local_initial_window(1 << 20);
    assert_eq!(flow.stream_recv_window(&streams[0]), (1 << 20) - 50_000);
    assert_eq!(flow.stream_recv_window(&streams[999]), 1 << 20);
    flow.set_local_initial_window(10_000);
    assert_eq!(flow.stream_recv_window(&streams[0]), -40_000);
    assert!(is_stream_flow_error(
        flow.recv_stream_data(&mut streams[0], sid(1), 1),
        1
    ));
    // Released bytes reopen it; the quarter now counts from the new initial window.
    flow.release(&mut streams[0], 50_000);
    assert_eq!(flow.stream_window_update(&mut streams[0]), Some(50_000));
    assert_eq!(flow.stream_recv_window(&streams[0]), 10_000);
    assert_eq!(flow.local_initial_window(), 10_000);
}
