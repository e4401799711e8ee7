//! A client `Connection` against a server `Connection`, in memory: bytes go from one's
//! `poll_transmit` to the other's `recv` until both are quiet.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::super::super::frame::ErrorCode;
use super::super::{Config, Connection, Event};
use super::*;

/// Moves what `from` has to write into `to`; whether anything moved.
fn transfer(from: &mut Connection, to: &mut Connection, now: Instant) -> bool {
    let mut chunks = Vec::new();
    from.poll_transmit(&mut chunks);
    if chunks.is_empty() {
        return false;
    }
    let mut bytes: BytesMut = chunks.iter().flat_map(|c| c.iter().copied()).collect();
    to.recv(&mut bytes, now);
    assert!(
        bytes.is_empty(),
        "the reader paused in a well-behaved exchange"
    );
    true
}

/// Runs both until quiet, letting `app` answer the server's events as they come.
fn run(
    client: &mut Connection,
    server: &mut Connection,
    now: Instant,
    mut app: impl FnMut(&mut Connection, Event),
) {
    for _ in 0..10_000 {
        let a = transfer(client, server, now);
        while let Some(event) = server.poll_event() {
            app(server, event);
        }
        let b = transfer(server, client, now);
        if !a && !b {
            return;
        }
    }
    panic!("the exchange never went quiet");
}

fn grpc_headers() -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("content-type", HeaderValue::from_static("application/grpc"));
    map.insert("te", HeaderValue::from_static("trailers"));
    map
}

fn ok_trailers() -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", HeaderValue::from_static("0"));
    map
}

#[test]
fn a_client_and_a_server_make_a_unary_call() {
    let t0 = Instant::now();
    let mut client = Connection::client(Config::default(), t0);
    let mut server = Connection::server(Config::default(), t0);
    let message = Bytes::from(grpc_message(b"ping"));
    let stream = client
        .open_stream(
            &Method::POST,
            "http",
            "localhost",
            "/echo.Echo/Say",
            &grpc_headers(),
            false,
        )
        .unwrap();
    assert_eq!(stream, sid(1));
    client.send_data(stream, message.clone(), true).unwrap();
    let mut seen = Vec::new();
    run(&mut client, &mut server, t0, |server, event| {
        match &event {
            Event::Request { stream, head, .. } => {
                assert_eq!(head.path.as_ref().map(|p| p.path()), Some("/echo.Echo/Say"));
                server
                    .send_headers(*stream, StatusCode::OK, &grpc_headers_response(), false)
                    .unwrap();
            }
            Event::Data {
                stream,
                data,
                end_stream: true,
            } => {
                server.release_capacity(*stream, data.len());
                server.send_data(*stream, data.clone(), false).unwrap();
                server.send_trailers(*stream, ok_trailers()).unwrap();
            }
            other => panic!("{other:?}"),
        }
        seen.push(event);
    });
    assert_eq!(seen.len(), 2);
    let evs = events(&mut client);
    let [Event::Response {
        status: StatusCode::OK,
        end_stream: false,
        ..
    }, Event::Data {
        data,
        end_stream: false,
        ..
    }, Event::Trailers { headers, .. }] = &evs[..]
    else {
        panic!("{evs:?}")
    };
    assert_eq!(data, &message);
    assert_eq!(headers["grpc-status"], "0");
    assert_eq!((client.stream_count(), server.stream_count()), (0, 0));
    // Both SETTINGS acked: only keepalive runs.
    assert_eq!(client.next_timeout(), Some(t0 + Duration::from_secs(7_200)));
    assert_eq!(server.next_timeout(), Some(t0 + Duration::from_secs(7_200)));
}

fn grpc_headers_response() -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("content-type", HeaderValue::from_static("application/grpc"));
    map
}

#[test]
fn a_large_upload_under_default_windows_flows_as_the_server_reads() {
    let t0 = Instant::now();
    let mut client = Connection::client(config(), t0);
    let mut server = Connection::server(config(), t0);
    let stream = client
        .open_stream(&Method::POST, "http", "x", "/up", &grpc_headers(), false)
        .unwrap();
    // 1 MiB, 16 times the stream window: only the server's reads open it again.
    let body: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    for chunk in body.chunks(100_000) {
        client
            .send_data(stream, Bytes::copy_from_slice(chunk), false)
            .unwrap();
    }
    client.send_trailers(stream, HeaderMap::new()).unwrap();
    let mut received = Vec::new();
    let mut done = false;
    run(&mut client, &mut server, t0, |server, event| match event {
        Event::Request { .. } => {}
        Event::Data { stream, data, .. } => {
            server.release_capacity(stream, data.len());
            received.extend_from_slice(&data);
        }
        Event::Trailers { stream, .. } => {
            server
                .send_headers(stream, StatusCode::OK, &HeaderMap::new(), true)
                .unwrap();
            done = true;
        }
        other => panic!("{other:?}"),
    });
    assert!(done);
    assert_eq!(received, body);
    assert!(matches!(
        &events(&mut client)[..],
        [Event::Response {
            end_stream: true,
            ..
        }]
    ));
}

#[test]
fn a_server_goaway_refuses_the_clients_later_streams() {
    let t0 = Instant::now();
    let mut client = Connection::client(config(), t0);
    let mut server = Connection::server(config(), t0);
    let first = client
        .open_stream(&Method::POST, "http", "x", "/a", &grpc_headers(), true)
        .unwrap();
    run(&mut client, &mut server, t0, |_, _| {});
    server.go_away(ErrorCode::NoError, t0);
    // The client opens another stream before it sees the first GOAWAY.
    let second = client
        .open_stream(&Method::POST, "http", "x", "/b", &grpc_headers(), true)
        .unwrap();
    let mut requests = Vec::new();
    run(&mut client, &mut server, t0, |_, event| {
        if let Event::Request { stream, .. } = event {
            requests.push(stream);
        }
    });
    assert_eq!(requests, vec![second], "GOAWAY(2^31-1) still lets it in");
    let evs = events(&mut client);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Event::GoAway { .. }))
            .count(),
        2,
        "{evs:?}"
    );
    for id in [first, second] {
        server
            .send_headers(id, StatusCode::OK, &HeaderMap::new(), true)
            .unwrap();
    }
    run(&mut client, &mut server, t0, |_, _| {});
    assert!(
        server.is_closed(),
        "graceful shutdown done once its streams ended"
    );
    assert_eq!(client.stream_count(), 0);
}

/// A client past the handshake with a scripted server.
fn open_client() -> (Connection, Peer, Instant) {
    let t0 = Instant::now();
    let mut client = Connection::client(config(), t0);
    let mut wire = BytesMut::new();
    let mut chunks = Vec::new();
    client.poll_transmit(&mut chunks);
    for chunk in &chunks {
        wire.extend_from_slice(chunk);
    }
    assert!(wire.starts_with(PREFACE));
    let mut peer = Peer::new();
    peer.settings(Default::default());
    super::super::super::frame::encode::settings_ack(&mut peer.input);
    peer.send_to(&mut client, t0);
    assert_eq!(
        frames(&mut client),
        vec![super::super::super::frame::Frame::SettingsAck]
    );
    (client, peer, t0)
}

#[test]
fn a_client_checks_the_response_head_and_the_servers_settings() {
    let (mut client, mut peer, t0) = open_client();
    let open = |client: &mut Connection| {
        client
            .open_stream(&Method::GET, "http", "x", "/", &HeaderMap::new(), true)
            .unwrap()
    };
    let (a, b, c) = (open(&mut client), open(&mut client), open(&mut client));
    frames(&mut client);
    // No :status; DATA before any head; a good Trailers-Only answer.
    peer.headers(a.get(), &[("content-type", "text/plain")], false);
    peer.data(b.get(), b"early", true);
    peer.headers(c.get(), &[(":status", "200"), ("grpc-status", "0")], true);
    peer.send_to(&mut client, t0);
    assert_eq!(
        frames(&mut client),
        vec![
            rst(1, ErrorCode::ProtocolError),
            rst(3, ErrorCode::ProtocolError)
        ]
    );
    let evs = events(&mut client);
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(matches!(&evs[2], Event::Response { stream, end_stream: true, .. } if *stream == c));
    // A server may not enable push (§6.5.2).
    peer.settings(super::super::super::frame::Settings {
        enable_push: Some(true),
        ..Default::default()
    });
    peer.send_to(&mut client, t0);
    assert_eq!(
        frames(&mut client),
        vec![goaway(
            0,
            ErrorCode::ProtocolError,
            "SETTINGS_ENABLE_PUSH=1 from a server"
        )]
    );
}
