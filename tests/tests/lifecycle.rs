//! Connections over their lifetime: Unix sockets, keepalive, idle and age limits, graceful
//! shutdown with its grace period, and clients that misbehave or vanish — after each, no task
//! is left behind and the server goes on serving.

use std::time::Duration;

use bytes::Bytes;
use tern::{Channel, Code, Request};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::{CountRequest, EchoRequest};
use tern_tests::ProbeService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        ..Default::default()
    }
}

/// Starts a probe server with these settings; returns its address and a handle to stop it.
async fn serve(
    server: tern::Server,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), tern::Error>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(
        server
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, async {
                let _ = stopped.await;
            }),
    );
    (addr, stop, task)
}

/// Waits until the runtime has no more tasks alive than `baseline`: nothing leaked.
async fn no_tasks_left_beyond(baseline: usize) {
    let metrics = tokio::runtime::Handle::current().metrics();
    for _ in 0..200 {
        if metrics.num_alive_tasks() <= baseline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{} tasks alive, expected at most {baseline}",
        metrics.num_alive_tasks()
    );
}

#[tokio::test]
async fn unix_domain_socket_both_sides() {
    let dir = std::env::temp_dir().join(format!("tern-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("probe.sock");
    let _ = std::fs::remove_file(&path);
    let serving = path.clone();
    tokio::spawn(async move {
        tern::Server::builder()
            .add_service(ProbeServer::new(ProbeService))
            .serve_unix(&serving, std::future::pending())
            .await
    });
    for _ in 0..100 {
        if path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let channel = Channel::connect(&format!("unix:{}", path.display()))
        .await
        .unwrap();
    let reply = ProbeClient::new(channel)
        .echo(echo("over uds"))
        .await
        .unwrap();
    assert_eq!(reply.into_inner().message, "over uds");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn client_keepalive_pings_are_answered() {
    let (addr, _stop, _task) = serve(tern::Server::builder()).await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .unwrap()
        .keepalive_interval(Duration::from_millis(20))
        .keepalive_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    // Calls spread over many keepalive rounds all go through on the same connection.
    for i in 0..10 {
        let reply = client.echo(echo(&format!("ping {i}"))).await.unwrap();
        assert_eq!(reply.into_inner().message, format!("ping {i}"));
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A client that completes the preface and then never answers anything.
async fn silent_client(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // An empty SETTINGS frame: length 0, type 4, no flags, stream 0.
    tcp.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    tcp
}

/// Reads until the server closes the connection; panics if it does not within 10 s.
async fn closed_by_server(tcp: &mut TcpStream) {
    let mut sink = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut sink))
        .await
        .expect("the server closed the connection")
        .ok();
}

#[tokio::test]
async fn server_closes_a_connection_whose_keepalive_goes_unanswered() {
    let server = tern::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_millis(50)))
        .http2_keepalive_timeout(Duration::from_millis(100));
    let (addr, _stop, _task) = serve(server).await;
    let mut tcp = silent_client(addr).await;
    closed_by_server(&mut tcp).await;
}

#[tokio::test]
async fn idle_connections_are_closed_and_clients_dial_again() {
    let server = tern::Server::builder().max_connection_idle(Some(Duration::from_millis(100)));
    let (addr, _stop, _task) = serve(server).await;
    // An HTTP/2 client that makes no call sees its connection end (GOAWAY, then close).
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (_h2, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the server closed the idle connection")
        .unwrap();
    // A Tern client whose connection was closed for idleness dials again on its next call.
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    client.echo(echo("first")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let reply = client.echo(echo("after idle")).await.unwrap();
    assert_eq!(reply.into_inner().message, "after idle");
}

#[tokio::test]
async fn old_connections_drain_after_max_age_and_grace() {
    let server = tern::Server::builder()
        .max_connection_age(Some(Duration::from_millis(100)))
        .max_connection_age_grace(Some(Duration::from_millis(100)));
    let (addr, _stop, _task) = serve(server).await;
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    // A call longer than age + grace is cancelled when the grace period ends...
    let slow = client
        .echo(EchoRequest {
            sleep_ms: 5_000,
            ..Default::default()
        })
        .await;
    let status = slow.unwrap_err();
    assert_ne!(status.code(), Code::Ok);
    // ...and the client carries on over a new connection.
    let reply = client.echo(echo("new connection")).await.unwrap();
    assert_eq!(reply.into_inner().message, "new connection");
}

#[tokio::test]
async fn graceful_shutdown_lets_calls_in_flight_finish() {
    let (addr, stop, task) = serve(tern::Server::builder()).await;
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .echo(EchoRequest {
                    message: "finishing".into(),
                    sleep_ms: 300,
                    ..Default::default()
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    let reply = in_flight.await.unwrap().unwrap();
    assert_eq!(reply.into_inner().message, "finishing");
    task.await.unwrap().unwrap();
    // The listener is closed: new connections are refused.
    assert!(Channel::connect(&format!("http://{addr}")).await.is_err());
}

#[tokio::test]
async fn shutdown_grace_period_cancels_what_is_left() {
    let server = tern::Server::builder().shutdown_grace_period(Some(Duration::from_millis(100)));
    let (addr, stop, task) = serve(server).await;
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    // A server stream that would run for a long time.
    let mut request = Request::new(EchoRequest {
        sleep_ms: 60_000,
        ..Default::default()
    });
    request.metadata_mut().insert("x-probe", "long").unwrap();
    let long = tokio::spawn({
        let client = client.clone();
        async move { client.echo(request).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    // The server returns once the grace period has cancelled the call, not after 60 s.
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("serve returned after the grace period")
        .unwrap()
        .unwrap();
    let status = long.await.unwrap().unwrap_err();
    assert_ne!(status.code(), Code::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_clients_leave_no_task_behind() {
    let (addr, _stop, _task) = serve(tern::Server::builder()).await;
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    client.echo(echo("warm up")).await.unwrap();
    let baseline = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();

    // 1. A client that resets its stream in the middle of a message.
    {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (h2, connection) = h2::client::handshake(tcp).await.unwrap();
        let driver = tokio::spawn(connection);
        let mut h2 = h2.ready().await.unwrap();
        let request = http::Request::builder()
            .method("POST")
            .uri(format!("http://{addr}/tern.probe.Probe/Echo"))
            .header("content-type", "application/grpc")
            .body(())
            .unwrap();
        let (_response, mut stream) = h2.send_request(request, false).unwrap();
        stream
            .send_data(Bytes::from_static(b"\x00\x00\x00\x00\x10half"), false)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.send_reset(h2::Reason::CANCEL);
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(h2);
        driver.abort();
    }

    // 2. A client that vanishes (TCP closed) while a server stream is open.
    {
        let vanishing = ProbeClient::connect(&format!("http://{addr}"))
            .await
            .unwrap();
        let mut replies = vanishing
            .count(CountRequest {
                count: 1_000_000,
                fail_after: 0,
                ..CountRequest::default()
            })
            .await
            .unwrap()
            .into_inner();
        replies.message().await.unwrap();
        drop(replies);
        drop(vanishing);
    }

    // 3. A client that stops mid-call with a handler that is still sleeping.
    {
        let mut request = Request::new(EchoRequest {
            sleep_ms: 60_000,
            ..Default::default()
        });
        request.set_timeout(Duration::from_millis(100));
        let status = client.echo(request).await.unwrap_err();
        assert_eq!(status.code(), Code::DeadlineExceeded);
    }

    no_tasks_left_beyond(baseline).await;
    let reply = client.echo(echo("still serving")).await.unwrap();
    assert_eq!(reply.into_inner().message, "still serving");
}

#[tokio::test]
async fn long_lived_streams_see_the_shutdown_coming_and_end_cleanly() {
    let (addr, stop, task) = serve(tern::Server::builder()).await;
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let mut replies = client
        .count(CountRequest {
            count: 0,
            fail_after: 0,
            ..CountRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        replies.message().await.unwrap().unwrap();
    }
    stop.send(()).unwrap();
    // The handler ends its stream when the connection drains: the call ends OK, well within
    // the 30 s grace period.
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        while replies.message().await?.is_some() {}
        Ok::<_, tern::Status>(())
    })
    .await
    .expect("the stream ended before the grace period");
    end.unwrap();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_service_can_lower_the_servers_receive_limit() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .add_service(ProbeServer::new(ProbeService).max_decoding_message_size(100))
            .serve_listener(listener, std::future::pending()),
    );
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let status = client
        .echo(EchoRequest {
            payload: vec![0; 200],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    client.echo(echo("small")).await.unwrap();
}

#[tokio::test]
async fn http2_settings_apply_on_both_sides() {
    let server = tern::Server::builder()
        .max_frame_size(1 << 20)
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(128 * 1024)
        .max_concurrent_streams(Some(4));
    let (addr, _stop, _task) = serve(server).await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .unwrap()
        .max_frame_size(1 << 20)
        .initial_stream_window_size(64 * 1024)
        .initial_connection_window_size(128 * 1024)
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    // More calls than the stream limit, each larger than the windows: they queue and complete.
    let calls: Vec<_> = (0..16)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let reply = client
                    .echo(EchoRequest {
                        message: i.to_string(),
                        payload: vec![1; 300 * 1024],
                        ..Default::default()
                    })
                    .await
                    .unwrap()
                    .into_inner();
                assert_eq!(reply.payload.len(), 300 * 1024);
                assert_eq!(reply.message, i.to_string());
            })
        })
        .collect();
    for call in calls {
        call.await.unwrap();
    }
}
