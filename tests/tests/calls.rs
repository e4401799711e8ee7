//! Tern client against Tern server: every method shape, metadata both ways, status and
//! deadlines, and many calls in flight on one connection.

use std::time::Duration;

use tern::{Channel, Code, Request};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::{CountRequest, EchoRequest, Number};
use tern_tests::start_probe_server;
use tern_tests::{Items, ReceiverStream};

async fn client() -> ProbeClient {
    let addr = start_probe_server().await;
    ProbeClient::connect(&format!("http://{addr}"))
        .await
        .expect("connect")
}

/// A stream of the given items, then an end; no stream crate needed.
#[tokio::test]
async fn hello_round_trip() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .add_service(hello::hello::hello_server::HelloServer::new(hello::Greeter))
            .serve_listener(listener, std::future::pending()),
    );
    let client = hello::hello::hello_client::HelloClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let request = hello::hello::HelloRequest {
        name: "world".into(),
        age: 18,
    };
    let reply = client.say_hello(request).await.unwrap();
    assert_eq!(reply.into_inner().message, "hello world 18");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_calls_in_flight_on_one_connection() {
    let client = client().await;
    let calls = (0..1000).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let reply = client
                .echo(EchoRequest {
                    message: format!("call {i}"),
                    ..Default::default()
                })
                .await
                .unwrap();
            assert_eq!(reply.into_inner().message, format!("call {i}"));
        })
    });
    let calls: Vec<_> = calls.collect();
    for call in calls {
        call.await.unwrap();
    }
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
async fn error_status_and_unicode_message_reach_the_client() {
    let client = client().await;
    let status = client
        .echo(EchoRequest {
            fail_code: Code::NotFound as i32,
            fail_message: "introuvable: caf\u{e9} \u{263a} 100%".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(status.message(), "introuvable: caf\u{e9} \u{263a} 100%");
}

#[tokio::test]
async fn a_panicking_handler_fails_only_its_own_call() {
    let client = client().await;
    let status = client
        .echo(EchoRequest {
            panic: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    let reply = client
        .echo(EchoRequest {
            message: "still here".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "still here");
}

#[tokio::test]
async fn deadline_ends_a_slow_call() {
    let client = client().await;
    let mut request = Request::new(EchoRequest {
        sleep_ms: 5_000,
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(100));
    let status = client.echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
}

#[tokio::test]
async fn oversized_request_is_resource_exhausted() {
    let client = client().await;
    let status = client
        .echo(EchoRequest {
            payload: vec![7; 2 * 1024 * 1024],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    // A payload under the limit still goes through.
    let reply = client
        .echo(EchoRequest {
            payload: vec![7; 512 * 1024],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().payload.len(), 512 * 1024);
}

#[tokio::test]
async fn client_rejects_an_oversized_response() {
    let addr = start_probe_server().await;
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(1000);
    let status = client
        .echo(EchoRequest {
            payload: vec![1; 5000],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn server_streaming_delivers_every_message_then_the_status() {
    let client = client().await;
    let mut replies = client
        .count(CountRequest {
            count: 100,
            fail_after: 0,
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
    assert_eq!(n, 100);

    let mut replies = client
        .count(CountRequest {
            count: 10,
            fail_after: 3,
            ..CountRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    for i in 0..3 {
        assert_eq!(
            replies.message().await.unwrap().unwrap().message,
            i.to_string()
        );
    }
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "failed after 3");
}

#[tokio::test]
async fn a_stream_that_panics_mid_batch_ends_with_unknown_after_the_replies_before() {
    let client = client().await;
    // The probe's stream is always ready, so the replies before the panic are gathered into
    // the same write as the panic is caught in.
    let mut replies = client
        .count(CountRequest {
            count: 10,
            panic_after: 4,
            ..CountRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    for i in 0..4 {
        assert_eq!(
            replies.message().await.unwrap().unwrap().message,
            i.to_string()
        );
    }
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    // The server goes on serving.
    let reply = client
        .echo(EchoRequest {
            message: "still here".into(),
            ..EchoRequest::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "still here");
}

#[tokio::test]
async fn client_streaming_sums_the_stream() {
    let client = client().await;
    let numbers = Items((1..=100).map(|value| Number { value }).collect());
    let sum = client.sum(numbers).await.unwrap().into_inner();
    assert_eq!(sum.value, 5050);
    let empty = Items(Default::default());
    assert_eq!(client.sum(empty).await.unwrap().into_inner().value, 0);
}

#[tokio::test]
async fn bidi_ping_pong_is_full_duplex() {
    let client = client().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<EchoRequest>(1);
    let requests = ReceiverStream(rx);
    let mut replies = client.chat(requests).await.unwrap().into_inner();
    // Each reply arrives before the next request is sent: both directions are open at once.
    for i in 0..20 {
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
async fn a_reader_that_pauses_holds_both_directions_back_and_loses_nothing() {
    let client = client().await;
    // 300 messages of 48 KiB each way: far more than the HTTP/2 windows (1 MiB per stream)
    // and the write buffers, so while the reader pauses, the server's sends fill the socket,
    // then its handler stops taking requests, then the client's sends wait too.
    const COUNT: usize = 300;
    const SIZE: usize = 48 * 1024;
    let requests = Items(
        (0..COUNT)
            .map(|i| EchoRequest {
                message: i.to_string(),
                payload: vec![(i % 251) as u8; SIZE],
                ..EchoRequest::default()
            })
            .collect(),
    );
    let mut replies = client.chat(requests).await.unwrap().into_inner();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for i in 0..COUNT {
        let reply = replies
            .message()
            .await
            .unwrap()
            .expect("a reply per request");
        assert_eq!(reply.message, i.to_string());
        assert_eq!(reply.payload.len(), SIZE);
        assert!(reply.payload.iter().all(|&b| b == (i % 251) as u8));
    }
    assert!(replies.message().await.unwrap().is_none());
}

#[tokio::test]
async fn connect_failure_names_the_address() {
    // Bind then drop, so the port is (almost certainly) closed.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Channel::connect(&format!("http://{addr}"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), tern::ErrorKind::Connect);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn client_reconnects_after_the_server_restarts() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        tern::Server::builder()
            .add_service(tern_tests::probe::probe_server::ProbeServer::new(
                tern_tests::ProbeService,
            ))
            .serve_listener(listener, async {
                let _ = stopped.await;
            }),
    );
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    client.echo(EchoRequest::default()).await.unwrap();
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();

    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(
        tern::Server::builder()
            .add_service(tern_tests::probe::probe_server::ProbeServer::new(
                tern_tests::ProbeService,
            ))
            .serve_listener(listener, std::future::pending()),
    );
    // The old connection closes with the server; the next calls dial again.
    let mut last = None;
    for _ in 0..50 {
        match client.echo(EchoRequest::default()).await {
            Ok(_) => {
                last = None;
                break;
            }
            Err(status) => last = Some(status),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(last.is_none(), "no call succeeded after restart: {last:?}");
}

#[tokio::test]
async fn deadline_bounds_a_whole_stream_not_only_its_start() {
    let client = client().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<EchoRequest>(1);
    let mut request = Request::new(ReceiverStream(rx));
    request.set_timeout(Duration::from_millis(300));
    let mut replies = client.chat(request).await.unwrap().into_inner();
    tx.send(EchoRequest {
        message: "quick".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().message, "quick");
    tx.send(EchoRequest {
        sleep_ms: 10_000,
        ..Default::default()
    })
    .await
    .unwrap();
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
}

#[tokio::test]
async fn status_details_reach_the_client() {
    let client = client().await;
    let status = client
        .echo(EchoRequest {
            fail_code: Code::FailedPrecondition as i32,
            fail_message: "see details".into(),
            fail_details: vec![0x08, 0x09, 0xff, 0x00],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(&status.details()[..], &[0x08, 0x09, 0xff, 0x00]);
}

#[tokio::test]
async fn receive_limit_applies_to_every_message_of_a_stream() {
    // Client to server: the third message of a client stream is over the server's 1 MiB limit.
    let client = client().await;
    let numbers = Items(
        vec![
            EchoRequest::default(),
            EchoRequest::default(),
            EchoRequest {
                payload: vec![0; 2 * 1024 * 1024],
                ..Default::default()
            },
        ]
        .into(),
    );
    let mut replies = client.chat(numbers).await.unwrap().into_inner();
    let mut outcome = Ok(());
    loop {
        match replies.message().await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(status) => {
                outcome = Err(status);
                break;
            }
        }
    }
    assert_eq!(outcome.unwrap_err().code(), Code::ResourceExhausted);

    // Server to client: a response stream message over the client's limit.
    let addr = start_probe_server().await;
    let small = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(10);
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tx.send(EchoRequest {
        message: "short".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    tx.send(EchoRequest {
        message: "a message longer than ten bytes".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    drop(tx);
    let mut replies = small.chat(ReceiverStream(rx)).await.unwrap().into_inner();
    assert_eq!(replies.message().await.unwrap().unwrap().message, "short");
    let status = replies.message().await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
}

/// A server that rejects a call at once (Trailers-Only, then the stream closed) may do so
/// before the client has sent the request; the client still reports the server's status, not
/// its own failure to send.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_that_outruns_the_request_is_the_outcome() {
    use tern::services::health::proto::health_client::HealthClient;
    use tern::services::health::proto::HealthCheckRequest;
    let addr = start_probe_server().await;
    let client = HealthClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    for _ in 0..200 {
        let status = client
            .check(HealthCheckRequest::default())
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unimplemented, "{status}");
    }
}
