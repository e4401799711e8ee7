//! Tests of the stream store: every transition of §5.1, the id rules of §5.1.1, the
//! concurrency limit, what late frames on closed streams mean, and bounded memory.

use super::{OpenError, Recv, Role, State, Streams, DEFAULT_CLOSED_MEMORY};
use crate::transport::http2::frame::{H2Error, StreamId, MAX_STREAM_ID};

fn sid(id: u32) -> StreamId {
    StreamId::new(id)
}

fn server() -> Streams<u32> {
    Streams::new(Role::Server, 100)
}

/// What an answer is, in short: "opened", "live", "closed:<user>", "ignore", or the error.
fn said(result: Result<Recv<u32>, H2Error>) -> String {
    match result {
        Ok(Recv::Opened) => "opened".into(),
        Ok(Recv::Live) => "live".into(),
        Ok(Recv::Closed(stream)) => format!("closed:{}", stream.user),
        Ok(Recv::Ignore) => "ignore".into(),
        Err(H2Error::Connection { code, .. }) => format!("connection {code}"),
        Err(H2Error::Stream { id, code, .. }) => format!("stream {id} {code}"),
    }
}

#[test]
fn a_request_goes_open_half_closed_and_closed() {
    let mut streams = server();
    assert_eq!(said(streams.recv_headers(sid(1), false, || 7)), "opened");
    assert_eq!(streams.get(sid(1)).map(|s| s.state()), Some(State::Open));
    assert_eq!(said(streams.recv_data(sid(1), false)), "live");
    assert_eq!(said(streams.recv_data(sid(1), true)), "live");
    let stream = streams.get(sid(1)).unwrap();
    assert_eq!(stream.state(), State::HalfClosedRemote);
    assert!(!stream.is_recv_open() && stream.is_send_open());
    // §5.1: half-closed (remote) takes no more DATA or HEADERS, but WINDOW_UPDATE and RST.
    assert_eq!(
        said(streams.recv_data(sid(1), false)),
        "stream 1 STREAM_CLOSED"
    );
    assert_eq!(
        said(streams.recv_headers(sid(1), true, || 0)),
        "stream 1 STREAM_CLOSED"
    );
    assert_eq!(said(streams.recv_window_update(sid(1))), "live");
    assert_eq!(streams.send_end_stream(sid(1)).map(|s| s.user), Some(7));
    assert!(streams.is_empty());
    assert_eq!(streams.remote_open(), 0);
    // Closed after both END_STREAMs: DATA is a stream error, HEADERS a connection error,
    // WINDOW_UPDATE and RST_STREAM are discarded (they may cross our END_STREAM).
    assert_eq!(
        said(streams.recv_data(sid(1), false)),
        "stream 1 STREAM_CLOSED"
    );
    assert_eq!(
        said(streams.recv_headers(sid(1), false, || 0)),
        "connection STREAM_CLOSED"
    );
    assert_eq!(said(streams.recv_window_update(sid(1))), "ignore");
    assert_eq!(said(streams.recv_reset(sid(1))), "ignore");
}

#[test]
fn a_request_with_end_stream_on_headers_and_trailers_closes_the_right_way() {
    let mut streams = server();
    assert_eq!(said(streams.recv_headers(sid(3), true, || 1)), "opened");
    assert_eq!(
        streams.get(sid(3)).map(|s| s.state()),
        Some(State::HalfClosedRemote)
    );
    // A server that answers before the request ends: half-closed (local) first.
    assert_eq!(said(streams.recv_headers(sid(5), false, || 2)), "opened");
    assert!(streams.send_end_stream(sid(5)).is_none());
    assert_eq!(
        streams.get(sid(5)).map(|s| s.state()),
        Some(State::HalfClosedLocal)
    );
    assert_eq!(said(streams.recv_data(sid(5), false)), "live");
    assert_eq!(said(streams.recv_headers(sid(5), true, || 0)), "closed:2");
    assert_eq!(streams.len(), 1);
}

#[test]
fn client_stream_ids_must_be_odd_and_increasing() {
    let mut streams = server();
    assert_eq!(
        said(streams.recv_headers(sid(2), false, || 0)),
        "connection PROTOCOL_ERROR"
    );
    let mut streams = server();
    assert_eq!(said(streams.recv_headers(sid(5), false, || 0)), "opened");
    assert_eq!(streams.last_remote(), sid(5));
    // 3 was skipped, so it is closed; it was never opened, so the id goes backwards (§5.1.1).
    assert_eq!(
        said(streams.recv_headers(sid(3), false, || 0)),
        "connection PROTOCOL_ERROR"
    );
    assert_eq!(
        said(streams.recv_data(sid(3), false)),
        "stream 3 STREAM_CLOSED"
    );
    assert_eq!(said(streams.recv_headers(sid(5), false, || 0)), "live");
    assert_eq!(
        said(streams.recv_headers(sid(MAX_STREAM_ID), true, || 9)),
        "opened"
    );
}

#[test]
fn frames_on_idle_streams_are_connection_errors() {
    let mut streams = server();
    streams.recv_headers(sid(1), false, || 0).unwrap();
    for id in [3, 7, 2, 4] {
        assert_eq!(
            said(streams.recv_data(sid(id), false)),
            "connection PROTOCOL_ERROR"
        );
        assert_eq!(
            said(streams.recv_window_update(sid(id))),
            "connection PROTOCOL_ERROR"
        );
        assert_eq!(
            said(streams.recv_reset(sid(id))),
            "connection PROTOCOL_ERROR"
        );
    }
    assert!(streams.is_idle_stream(sid(3)) && !streams.is_idle_stream(sid(1)));
    // Not having opened them: the rejected frames did not move the highest id.
    assert_eq!(said(streams.recv_headers(sid(3), false, || 0)), "opened");
}

#[test]
fn streams_over_the_limit_are_refused_and_their_late_frames_discarded() {
    let mut streams: Streams<u32> = Streams::new(Role::Server, 2);
    assert_eq!(said(streams.recv_headers(sid(1), false, || 1)), "opened");
    assert_eq!(said(streams.recv_headers(sid(3), false, || 3)), "opened");
    assert_eq!(
        said(streams.recv_headers(sid(5), false, || 5)),
        "stream 5 REFUSED_STREAM"
    );
    assert_eq!(streams.len(), 2);
    // The client sent these before it saw our RST_STREAM.
    assert_eq!(said(streams.recv_data(sid(5), true)), "ignore");
    assert_eq!(said(streams.recv_headers(sid(5), true, || 0)), "ignore");
    assert_eq!(said(streams.recv_reset(sid(1))), "closed:1");
    assert_eq!(said(streams.recv_headers(sid(7), false, || 7)), "opened");
    streams.set_max_remote(1);
    assert_eq!(
        said(streams.recv_headers(sid(9), false, || 9)),
        "stream 9 REFUSED_STREAM"
    );
    assert_eq!(streams.len(), 2, "lowering the limit closes nothing");
}

#[test]
fn late_frames_after_a_reset_depend_on_who_reset() {
    let mut streams = server();
    streams.recv_headers(sid(1), false, || 1).unwrap();
    streams.recv_headers(sid(3), false, || 3).unwrap();
    assert_eq!(said(streams.recv_reset(sid(1))), "closed:1");
    // The peer reset it, so it knows: DATA after that is an error (h2spec 5.1/8).
    assert_eq!(
        said(streams.recv_data(sid(1), false)),
        "stream 1 STREAM_CLOSED"
    );
    assert_eq!(
        said(streams.recv_headers(sid(1), false, || 0)),
        "connection STREAM_CLOSED"
    );
    assert_eq!(said(streams.recv_window_update(sid(1))), "ignore");
    // We reset 3: what the peer had in flight is discarded, whatever it is.
    assert_eq!(streams.send_reset(sid(3)).map(|s| s.user), Some(3));
    assert_eq!(said(streams.recv_data(sid(3), true)), "ignore");
    assert_eq!(said(streams.recv_headers(sid(3), true, || 0)), "ignore");
    assert_eq!(said(streams.recv_window_update(sid(3))), "ignore");
    assert_eq!(said(streams.recv_reset(sid(3))), "ignore");
    // Resetting a closed stream (a stream error answered on it) quiets it too.
    assert!(streams.send_reset(sid(1)).is_none());
    assert_eq!(said(streams.recv_data(sid(1), false)), "ignore");
}

#[test]
fn after_goaway_new_streams_are_ignored() {
    let mut streams = server();
    streams.recv_headers(sid(1), false, || 1).unwrap();
    streams.stop_accepting(sid(1));
    assert_eq!(said(streams.recv_headers(sid(3), false, || 3)), "ignore");
    assert_eq!(said(streams.recv_data(sid(3), true)), "ignore");
    assert_eq!(said(streams.recv_data(sid(1), true)), "live");
    assert_eq!(streams.len(), 1);
    assert_eq!(
        streams.last_remote(),
        sid(1),
        "the ignored stream was not processed"
    );
}

#[test]
fn closed_streams_cost_no_memory_beyond_the_bounded_list() {
    let mut streams = server();
    for n in 0..100_000u32 {
        let id = sid(2 * n + 1);
        assert_eq!(said(streams.recv_headers(id, true, || n)), "opened");
        if n % 2 == 0 {
            assert_eq!(streams.send_end_stream(id).map(|s| s.user), Some(n));
        } else {
            assert!(streams.send_reset(id).is_some());
        }
    }
    assert!(streams.is_empty());
    assert_eq!(streams.closed.len(), DEFAULT_CLOSED_MEMORY);
    // Long forgotten: every id below the highest that is not live is closed anyway.
    assert_eq!(
        said(streams.recv_data(sid(1), false)),
        "stream 1 STREAM_CLOSED"
    );
    assert_eq!(said(streams.recv_window_update(sid(3))), "ignore");
    assert_eq!(
        said(streams.recv_headers(sid(5), false, || 0)),
        "connection PROTOCOL_ERROR"
    );
    // Recent ones are still told apart.
    assert_eq!(said(streams.recv_data(sid(199_999), false)), "ignore");
    assert_eq!(
        said(streams.recv_data(sid(199_997), false)),
        "stream 199997 STREAM_CLOSED"
    );
    streams.set_closed_memory(0);
    assert_eq!(streams.closed.len(), 1);
}

#[test]
fn a_client_allocates_odd_ids_until_they_run_out() {
    let mut streams: Streams<u32> = Streams::new(Role::Client, 0);
    assert_eq!(streams.open_local(false, 1), Ok(sid(1)));
    assert_eq!(streams.open_local(true, 3), Ok(sid(3)));
    assert_eq!(
        streams.get(sid(3)).map(|s| s.state()),
        Some(State::HalfClosedLocal)
    );
    streams.set_max_local(2);
    assert_eq!(streams.open_local(false, 5), Err(OpenError::AtLimit));
    // The response to 3 ends it; the server may not open streams or touch idle ones.
    assert_eq!(said(streams.recv_headers(sid(3), false, || 0)), "live");
    assert_eq!(said(streams.recv_data(sid(3), true)), "closed:3");
    assert_eq!(
        said(streams.recv_headers(sid(2), false, || 0)),
        "connection PROTOCOL_ERROR"
    );
    assert_eq!(
        said(streams.recv_headers(sid(5), false, || 0)),
        "connection PROTOCOL_ERROR"
    );
    assert_eq!(
        said(streams.recv_data(sid(7), false)),
        "connection PROTOCOL_ERROR"
    );
    assert_eq!(
        said(streams.recv_headers(sid(3), false, || 0)),
        "connection STREAM_CLOSED"
    );
    assert_eq!(streams.open_local(false, 5), Ok(sid(5)));

    streams.set_max_local(u32::MAX);
    streams.set_next_local(MAX_STREAM_ID - 2);
    assert_eq!(streams.open_local(false, 0), Ok(sid(MAX_STREAM_ID - 2)));
    assert_eq!(streams.open_local(false, 0), Ok(sid(MAX_STREAM_ID)));
    assert_eq!(streams.open_local(false, 0), Err(OpenError::Exhausted));
    assert_eq!(streams.open_local(false, 0), Err(OpenError::Exhausted));
}

#[test]
fn a_client_stream_reset_by_the_server_is_handed_back() {
    let mut streams: Streams<&str> = Streams::new(Role::Client, 0);
    let id = streams.open_local(false, "call").unwrap();
    assert!(matches!(streams.recv_reset(id), Ok(Recv::Closed(s)) if s.user == "call"));
    assert!(streams.is_empty());
    assert!(matches!(streams.recv_reset(id), Ok(Recv::Ignore)));
}

#[test]
fn the_flow_offsets_are_looked_up_by_id() {
    let mut streams = server();
    streams.recv_headers(sid(1), false, || 0).unwrap();
    assert_eq!(streams.send_offset(sid(1)), Some(0));
    assert_eq!(streams.send_offset(sid(3)), None);
    for (id, stream) in streams.iter_mut() {
        assert_eq!(id, sid(1));
        stream.user = 42;
    }
    assert_eq!(streams.get_mut(sid(1)).map(|s| s.user), Some(42));
}
