//! A channel's default service config at work on real calls: per-method timeouts, message size
//! limits both ways, wait-for-ready (and a call's own setting over it), and rejection of an
//! invalid config with the field named.

use std::time::Duration;

use tern::{Channel, Code, ErrorKind, Request};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::EchoRequest;
use tern_tests::start_probe_server;

const CONFIG: &str = r#"{
  "methodConfig": [
    {"name": [{"service": "tern.probe.Probe", "method": "Echo"}],
     "timeout": "0.2s", "maxRequestMessageBytes": 1000, "maxResponseMessageBytes": 2000},
    {"name": [{}], "waitForReady": true, "timeout": "0.3s"}
  ]
}"#;

async fn client(target: &str) -> ProbeClient {
    let channel = Channel::builder(target)
        .unwrap()
        .default_service_config(CONFIG)
        .unwrap()
        .lazy();
    ProbeClient::new(channel)
}

fn echo(payload: usize, sleep_ms: u32) -> EchoRequest {
    EchoRequest {
        message: "configured".into(),
        payload: vec![7; payload],
        sleep_ms,
        ..Default::default()
    }
}

#[tokio::test]
async fn timeouts_and_limits_come_from_the_method_config() {
    let addr = start_probe_server().await;
    let client = client(&format!("http://{addr}")).await;
    assert_eq!(
        client.echo(echo(10, 0)).await.unwrap().get_ref().message,
        "configured"
    );
    // The config's 0.2 s bounds a call that set no timeout of its own...
    let status = client.echo(echo(10, 30_000)).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    // ...and a longer one of its own, since the shorter wins.
    let mut request = Request::new(echo(10, 30_000));
    request.set_timeout(Duration::from_secs(60));
    assert_eq!(
        client.echo(request).await.unwrap_err().code(),
        Code::DeadlineExceeded
    );
    // Requests over 1000 bytes are not sent; responses over 2000 are not accepted.
    let status = client.echo(echo(1500, 0)).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{status}");
    let reply = client
        .echo(EchoRequest {
            payload: vec![1; 900],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.get_ref().payload.len(), 900);
    // The server echoes the payload: with a response limit of 100, a 500-byte echo is refused
    // by the client.
    let big_reply = tern::codegen::Client::new(
        Channel::builder(&format!("http://{addr}"))
            .unwrap()
            .default_service_config(
                r#"{"methodConfig": [{"name": [{"service": "tern.probe.Probe"}],
                "maxResponseMessageBytes": 100}]}"#,
            )
            .unwrap()
            .lazy(),
    )
    .unary(
        tern::codegen::PathAndQuery::from_static("/tern.probe.Probe/Echo"),
        Request::new(echo(500, 0)),
        tern::codegen::ProstCodec::<EchoRequest, tern_tests::probe::EchoReply>::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(big_reply.code(), Code::ResourceExhausted, "{big_reply}");
}

#[tokio::test]
async fn wait_for_ready_from_the_config_and_the_call_over_it() {
    // A port with nothing listening.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = client(&format!("http://127.0.0.1:{port}")).await;
    // Count's config is the default: wait for ready, 0.3 s. Nothing comes up, so the call
    // waits out its deadline instead of failing fast.
    let status = client
        .count(tern_tests::probe::CountRequest {
            count: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status}");
    // The call's own "do not wait" wins over the config: UNAVAILABLE.
    let mut request = Request::new(tern_tests::probe::CountRequest {
        count: 1,
        ..Default::default()
    });
    request.set_wait_for_ready(false);
    let status = client.count(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

#[test]
fn an_invalid_config_is_refused_with_the_field_named() {
    let error = Channel::builder("http://127.0.0.1:1")
        .unwrap()
        .default_service_config(
            r#"{"methodConfig": [{"name": [{}], "retryPolicy": {"maxAttempts": 1}}]}"#,
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidConfig);
    assert!(
        error.to_string().contains("methodConfig[0].retryPolicy"),
        "{error}"
    );
}
