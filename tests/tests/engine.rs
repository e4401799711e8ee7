//! The probe server on Tern's own HTTP/2 engine (`Http2Engine::Tern`, issue 11) — whatever
//! `TERN_HTTP2_ENGINE` says — called by a Tern client and by grpcio: every method shape, a
//! message of several MiB (past every window), deadlines, cancellation, raw-frame floods on
//! loopback, and grpcio's error cases. In a test binary of its own, because the cancellation
//! test counts the probe's running handlers process-wide.

use std::net::SocketAddr;
use std::time::Duration;

use tern::server::Http2Engine;
use tern::{Code, Request};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::{CountRequest, EchoRequest, Number};
use tern_tests::{python, ProbeService, PROBE_RECEIVE_LIMIT};
use tern_tests::{Items, ReceiverStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A probe server on Tern's engine on a free loopback port.
async fn server(receive_limit: usize) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .http2_engine(Http2Engine::Tern)
            .max_decoding_message_size(receive_limit)
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending()),
    );
    addr
}

async fn client_of(addr: SocketAddr) -> ProbeClient {
    ProbeClient::connect(&format!("http://{addr}"))
        .await
        .expect("connect")
}

async fn client() -> ProbeClient {
    client_of(server(PROBE_RECEIVE_LIMIT).await).await
}

/// A stream of the given items, then an end.
async fn echo(client: &ProbeClient, message: &str) -> String {
    client
        .echo(EchoRequest {
            message: message.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .message
}

#[tokio::test]
async fn unary_and_errors() {
    let client = client().await;
    assert_eq!(echo(&client, "hello").await, "hello");
    let status = client
        .echo(EchoRequest {
            fail_code: Code::NotFound as i32,
            fail_message: "introuvable".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "introuvable");
    let status = client
        .echo(EchoRequest {
            panic: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    assert_eq!(echo(&client, "still here").await, "still here");
}

#[tokio::test]
async fn metadata_travels_both_ways() {
    let client = client().await;
    let mut request = Request::new(EchoRequest::default());
    request.metadata_mut().insert("x-probe", "42").unwrap();
    let response = client.echo(request).await.unwrap();
    assert_eq!(response.metadata().get("x-initial"), Some("here"));
    assert_eq!(response.trailers().get("x-trailing"), Some("there"));
    assert_eq!(response.get_ref().probe_header, "42");
}

#[tokio::test]
async fn server_streaming() {
    let client = client().await;
    let mut replies = client
        .count(CountRequest {
            count: 1000,
            ..CountRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while let Some(reply) = replies.message().await.unwrap() {
        assert_eq!(reply.message, n.to_string());
        n += 1;
    }
    assert_eq!(n, 1000);
    let mut replies = client
        .count(CountRequest {
            count: 10,
            fail_after: 3,
            ..CountRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        replies.message().await.unwrap().unwrap();
    }
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn client_streaming() {
    let client = client().await;
    let numbers = Items((1..=1000).map(|value| Number { value }).collect());
    assert_eq!(
        client.sum(numbers).await.unwrap().into_inner().value,
        500_500
    );
    let empty = Items(Default::default());
    assert_eq!(client.sum(empty).await.unwrap().into_inner().value, 0);
}

#[tokio::test]
async fn bidi_is_full_duplex() {
    let client = client().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<EchoRequest>(1);
    let mut replies = client.chat(ReceiverStream(rx)).await.unwrap().into_inner();
    for i in 0..50 {
        tx.send(EchoRequest {
            message: format!("ping {i}"),
            ..Default::default()
        })
        .await
        .unwrap();
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.message, format!("ping {i}"));
    }
    drop(tx);
    assert!(replies.message().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_of_several_mib_pass_every_window() {
    let client = client_of(server(64 * 1024 * 1024).await).await;
    // Up to the client's default receive limit (4 MiB), past both windows (1 and 2 MiB).
    for size in [3 * 1024 * 1024, 4 * 1024 * 1024 - 1024] {
        let payload: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let reply = client
            .echo(EchoRequest {
                message: "big".into(),
                payload: payload.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(reply.payload == payload, "{size} bytes came back changed");
    }
    // Many 48 KiB messages each way, a reader that pauses: backpressure, nothing lost.
    const COUNT: usize = 200;
    let requests = Items(
        (0..COUNT)
            .map(|i| EchoRequest {
                message: i.to_string(),
                payload: vec![(i % 251) as u8; 48 * 1024],
                ..EchoRequest::default()
            })
            .collect(),
    );
    let mut replies = client.chat(requests).await.unwrap().into_inner();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..COUNT {
        let reply = replies.message().await.unwrap().expect("a reply");
        assert_eq!(reply.message, i.to_string());
        assert_eq!(reply.payload.len(), 48 * 1024);
    }
    assert!(replies.message().await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_in_flight_on_one_connection() {
    let client = client().await;
    let calls: Vec<_> = (0..1000)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                assert_eq!(
                    echo(&client, &format!("call {i}")).await,
                    format!("call {i}")
                );
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_calls_than_the_stream_limit_all_finish() {
    // At MAX_CONCURRENT_STREAMS running handlers the engine stops reading; each handler's end
    // (the driver's `handler_done`) lets the next request in.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .http2_engine(Http2Engine::Tern)
            .max_concurrent_streams(Some(4))
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending()),
    );
    let client = client_of(addr).await;
    let calls: Vec<_> = (0..40)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .echo(EchoRequest {
                        message: format!("call {i}"),
                        sleep_ms: 20,
                        ..Default::default()
                    })
                    .await
                    .map(|reply| reply.into_inner().message)
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), format!("call {i}"));
    }
}

#[tokio::test]
async fn deadlines_end_calls_on_both_sides() {
    let client = client().await;
    let mut request = Request::new(EchoRequest {
        sleep_ms: 5_000,
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(100));
    let started = std::time::Instant::now();
    let status = client.echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(echo(&client, "after").await, "after");
}

#[tokio::test]
async fn dropping_a_call_cancels_its_handler() {
    let client = client().await;
    let before = tern_tests::HANDLERS_IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst);
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .echo(EchoRequest {
                    sleep_ms: 60_000,
                    ..Default::default()
                })
                .await
        }
    });
    for _ in 0..200 {
        if tern_tests::HANDLERS_IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    call.abort();
    for _ in 0..400 {
        if tern_tests::HANDLERS_IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) <= before {
            assert_eq!(echo(&client, "after").await, "after");
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the handler of the dropped call is still running");
}

#[tokio::test]
async fn graceful_shutdown_lets_the_call_in_flight_finish() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(
        tern::Server::builder()
            .http2_engine(Http2Engine::Tern)
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, async {
                let _ = stop_rx.await;
            }),
    );
    let client = client_of(addr).await;
    assert_eq!(echo(&client, "first").await, "first");
    let slow = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .echo(EchoRequest {
                    message: "slow".into(),
                    sleep_ms: 300,
                    ..Default::default()
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = stop_tx.send(());
    let reply = slow.await.unwrap().unwrap();
    assert_eq!(reply.into_inner().message, "slow");
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("the server stopped once its connection drained")
        .unwrap()
        .unwrap();
}

// Raw frames for the floods.

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    block.push(name.len() as u8);
    block.extend_from_slice(name.as_bytes());
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}

/// A POST to the probe's Echo, without indexing (the same bytes open any stream).
fn echo_headers() -> Vec<u8> {
    let path = "/tern.probe.Probe/Echo";
    let mut block = vec![0x83, 0x86, 0x04, path.len() as u8];
    block.extend_from_slice(path.as_bytes());
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"localhost");
    literal(&mut block, "content-type", "application/grpc");
    literal(&mut block, "te", "trailers");
    block
}

/// Reads frames until GOAWAY (its error code) or the end of the connection (`None`).
async fn goaway(tcp: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<u32> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            if buf[3] == 0x7 && len >= 8 {
                return Some(u32::from_be_bytes([buf[13], buf[14], buf[15], buf[16]]));
            }
            buf.drain(..9 + len);
        }
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Opens `streams` streams and resets each at once, in one write.
async fn rapid_reset(addr: SocketAddr, streams: u32) -> Option<u32> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    wire.extend(frame(0x4, 0, 0, &[]));
    let block = echo_headers();
    for i in 0..streams {
        let id = 1 + 2 * i;
        wire.extend(frame(0x1, 0x4, id, &block));
        wire.extend(frame(0x3, 0, id, &8u32.to_be_bytes()));
    }
    let (mut read, mut write) = tcp.split();
    let writing = async {
        let _ = write.write_all(&wire).await;
    };
    let (code, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(20), goaway(&mut read)),
        writing
    );
    code.expect("the server answered the flood")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_end_with_enhance_your_calm_and_the_server_serves_on() {
    let addr = server(PROBE_RECEIVE_LIMIT).await;
    // Rapid reset (CVE-2023-44487): 5,000 streams opened and reset at once.
    assert_eq!(
        rapid_reset(addr, 5_000).await,
        Some(0xb),
        "ENHANCE_YOUR_CALM"
    );

    // A PING flood from a peer that does not read: answers are throttled, then the
    // connection ends; memory stays bounded (the server stops reading).
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    wire.extend(frame(0x4, 0, 0, &[]));
    for i in 0..20_000u64 {
        wire.extend(frame(0x6, 0, 0, &i.to_be_bytes()));
    }
    let _ = tokio::time::timeout(Duration::from_secs(20), tcp.write_all(&wire)).await;
    drop(tcp);

    // Unknown frame types (a glitch flood): GOAWAY ENHANCE_YOUR_CALM.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    wire.extend(frame(0x4, 0, 0, &[]));
    for _ in 0..5_000 {
        wire.extend(frame(0xfa, 0, 0, b"x"));
    }
    tcp.write_all(&wire).await.unwrap();
    let code = tokio::time::timeout(Duration::from_secs(20), goaway(&mut tcp))
        .await
        .expect("the server answered the flood");
    assert_eq!(code, Some(0xb), "ENHANCE_YOUR_CALM");

    // The server still serves everyone else.
    let client = client_of(addr).await;
    assert_eq!(echo(&client, "after the floods").await, "after the floods");
}

/// Runs the grpcio driver (tests/py/probe_client.py) on these cases.
async fn grpcio(addr: SocketAddr, cases: &[&str]) -> Vec<(String, String, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/probe_client.py");
    let output = tokio::process::Command::new(python())
        .arg(script)
        .arg("--target")
        .arg(addr.to_string())
        .args(cases)
        .output()
        .await
        .expect("run the grpcio driver");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "grpcio driver failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let mut next = || parts.next().unwrap_or_default().to_owned();
            (next(), next(), next())
        })
        .collect()
}

#[tokio::test]
async fn grpcio_probe_cases() {
    let addr = server(PROBE_RECEIVE_LIMIT).await;
    let results = grpcio(
        addr,
        &[
            "echo",
            "unknown_method",
            "unknown_service",
            "not_found_unicode",
            "panic",
            "oversized",
            "invalid_message",
            "echo",
        ],
    )
    .await;
    let expected = [
        ("echo", "OK"),
        ("unknown_method", "UNIMPLEMENTED"),
        ("unknown_service", "UNIMPLEMENTED"),
        ("not_found_unicode", "NOT_FOUND"),
        ("panic", "UNKNOWN"),
        ("oversized", "RESOURCE_EXHAUSTED"),
        ("invalid_message", "INTERNAL"),
        ("echo", "OK"),
    ];
    assert_eq!(results.len(), expected.len(), "{results:?}");
    for ((case, code, details), (want_case, want_code)) in results.iter().zip(expected) {
        assert_eq!(case, want_case);
        assert_eq!(code, want_code, "{case}: {details}");
    }
    assert_eq!(results[0].2, "ping");
    assert_eq!(
        results[3].2, "introuvable: caf\u{e9} \u{263a} 100%",
        "the unicode message"
    );
}
