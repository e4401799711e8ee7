//! The in-memory transport behaves as TCP does: every call shape, deadlines, limits, metadata,
//! graceful shutdown and refusal once the server is gone — with no socket and no port.

use std::time::Duration;

use tern::memory::{MemoryConnector, MemoryListener};
use tern::{Code, Request};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::{CountRequest, EchoRequest, Number};
use tern_tests::Items;
use tern_tests::{ProbeService, PROBE_RECEIVE_LIMIT};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A probe server on an in-memory listener, its connector, a stop switch and its task.
fn serve() -> (
    MemoryConnector,
    oneshot::Sender<()>,
    JoinHandle<Result<(), tern::Error>>,
) {
    let listener = MemoryListener::new();
    let connector = listener.connector();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(
        tern::Server::builder()
            .max_decoding_message_size(PROBE_RECEIVE_LIMIT)
            .add_service(ProbeServer::new(ProbeService))
            .serve_memory(listener, async {
                let _ = stopped.await;
            }),
    );
    (connector, stop, task)
}

#[tokio::test]
async fn every_call_shape() {
    let (connector, _stop, _task) = serve();
    let client = ProbeClient::new(connector.connect().await.unwrap());

    let reply = client
        .echo(EchoRequest {
            message: "in memory".into(),
            payload: vec![7; 200_000],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.message, "in memory");
    assert_eq!(reply.payload, vec![7; 200_000]);

    let mut counted = client
        .count(CountRequest {
            count: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut seen = Vec::new();
    while let Some(reply) = counted.message().await.unwrap() {
        seen.push(reply.message);
    }
    assert_eq!(seen, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());

    let numbers = Items((1..=100).map(|value| Number { value }).collect());
    assert_eq!(client.sum(numbers).await.unwrap().into_inner().value, 5050);

    let requests = Items(
        (0..50)
            .map(|i| EchoRequest {
                message: format!("ping {i}"),
                ..Default::default()
            })
            .collect(),
    );
    let mut replies = client.chat(requests).await.unwrap().into_inner();
    for i in 0..50 {
        let reply = replies
            .message()
            .await
            .unwrap()
            .expect("a reply per request");
        assert_eq!(reply.message, format!("ping {i}"));
    }
    assert!(replies.message().await.unwrap().is_none());
}

#[tokio::test]
async fn many_calls_at_once_share_one_connection() {
    let (connector, _stop, _task) = serve();
    let client = ProbeClient::new(connector.connect().await.unwrap());
    let calls: Vec<_> = (0..200)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                client
                    .echo(EchoRequest {
                        message: i.to_string(),
                        ..Default::default()
                    })
                    .await
                    .map(|reply| reply.into_inner().message)
            })
        })
        .collect();
    for (i, call) in calls.into_iter().enumerate() {
        assert_eq!(call.await.unwrap().unwrap(), i.to_string());
    }
}

#[tokio::test]
async fn deadlines_statuses_metadata_and_limits_as_over_tcp() {
    let (connector, _stop, _task) = serve();
    let client = ProbeClient::new(connector.connect().await.unwrap());

    let mut slow = Request::new(EchoRequest {
        sleep_ms: 5_000,
        ..Default::default()
    });
    slow.set_timeout(Duration::from_millis(100));
    assert_eq!(
        client.echo(slow).await.unwrap_err().code(),
        Code::DeadlineExceeded
    );

    let failed = client
        .echo(EchoRequest {
            fail_code: Code::NotFound as i32,
            fail_message: "no such greeting".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(failed.code(), Code::NotFound);
    assert_eq!(failed.message(), "no such greeting");

    let mut tagged = Request::new(EchoRequest::default());
    tagged
        .metadata_mut()
        .insert("x-probe", "from memory")
        .unwrap();
    assert_eq!(
        client.echo(tagged).await.unwrap().into_inner().probe_header,
        "from memory"
    );

    let too_big = client
        .echo(EchoRequest {
            payload: vec![0; PROBE_RECEIVE_LIMIT + 1],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(too_big.code(), Code::ResourceExhausted);

    let panicked = client
        .echo(EchoRequest {
            panic: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(panicked.code(), Code::Unknown);
    // The connection serves on after all of that.
    client.echo(EchoRequest::default()).await.unwrap();
}

#[tokio::test]
async fn shutdown_drains_streams_then_refuses_new_connections() {
    let (connector, stop, task) = serve();
    let channel = connector.connect().await.unwrap();
    let client = ProbeClient::new(channel);
    let mut forever = client
        .count(CountRequest::default())
        .await
        .unwrap()
        .into_inner();
    for _ in 0..3 {
        forever.message().await.unwrap().unwrap();
    }
    stop.send(()).unwrap();
    // The stream sees the drain and ends OK, as over TCP.
    tokio::time::timeout(Duration::from_secs(10), async {
        while forever.message().await?.is_some() {}
        Ok::<_, tern::Status>(())
    })
    .await
    .expect("the stream ended before the grace period")
    .unwrap();
    task.await.unwrap().unwrap();

    // The server is gone: connecting fails as a closed port does, and a call is UNAVAILABLE.
    let refused = connector.connect().await.unwrap_err();
    assert_eq!(refused.kind(), tern::ErrorKind::Connect);
    assert!(
        refused.to_string().contains("in-memory server"),
        "{refused}"
    );
    let status = client.echo(EchoRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}
