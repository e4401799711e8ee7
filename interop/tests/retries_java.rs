//! Tern's retries and hedging against grpc-java's xDS test server (`XdsTestServer`, run in
//! plaintext with no xDS), whose `rpc-behavior` metadata (grpc/grpc
//! doc/xds-test-descriptions.md) fails a call until the attempt that `grpc-previous-rpc-attempts`
//! numbers: so the peer, not Tern, checks that each retry says which attempt it is. Installed by
//! interop/peers/install.sh; TERN_PEERS names its directory.

use std::path::PathBuf;
use std::time::Duration;

use tern::{Channel, Code, Request};
use tern_interop::pb::test_service_client::TestServiceClient;
use tern_interop::pb::SimpleRequest;

fn peers() -> PathBuf {
    std::env::var_os("TERN_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.peers/bin")))
}

/// grpc-java's xDS test server on a free loopback port; killed when dropped.
async fn java_server() -> (tokio::process::Child, u16) {
    let binary = peers().join("java-interop-xds-server");
    assert!(
        binary.exists(),
        "no {}: run interop/peers/install.sh (scripts/test.sh does)",
        binary.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = tokio::process::Command::new(binary)
        .args([format!("--port={port}"), "--secure_mode=false".into()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the xDS test server");
    // The JVM takes a few seconds to start.
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the xDS test server did not listen on port {port}");
}

async fn client(port: u16, policy: &str) -> TestServiceClient {
    let config = format!(
        r#"{{"methodConfig": [{{"name": [{{"service": "grpc.testing.TestService"}}], {policy}}}]}}"#
    );
    let channel = Channel::builder(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .default_service_config(&config)
        .unwrap()
        .connect()
        .await
        .unwrap();
    TestServiceClient::new(channel)
}

fn with_behavior(behavior: &str) -> Request<SimpleRequest> {
    let mut request = Request::new(SimpleRequest::default());
    request
        .metadata_mut()
        .insert("rpc-behavior", behavior)
        .unwrap();
    request.set_timeout(Duration::from_secs(20));
    request
}

fn retry(max_attempts: u32) -> String {
    format!(
        r#""retryPolicy": {{"maxAttempts": {max_attempts}, "initialBackoff": "0.01s",
            "maxBackoff": "0.05s", "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"]}}"#
    )
}

#[tokio::test]
async fn retries_reach_the_attempt_grpc_java_lets_through() {
    let (_server, port) = java_server().await;
    // Fails UNAVAILABLE unless this is the attempt after two others.
    let behavior = "succeed-on-retry-attempt-2,error-code-14";
    let three = client(port, &retry(3)).await;
    three.unary_call(with_behavior(behavior)).await.unwrap();
    // With two attempts, the third never comes.
    let two = client(port, &retry(2)).await;
    let status = two.unary_call(with_behavior(behavior)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
    // Without a policy, no retry at all.
    let none = client(port, r#""timeout": "20s""#).await;
    let status = none
        .unary_call(with_behavior("succeed-on-retry-attempt-1,error-code-14"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status}");
}

#[tokio::test]
async fn a_hedge_answers_while_grpc_java_sleeps_on_the_first_attempt() {
    let (_server, port) = java_server().await;
    let hedged = client(
        port,
        r#""hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "0.2s"}"#,
    )
    .await;
    // The first attempt sleeps 60 s, past the call's 20 s deadline; the first hedge (attempt 1)
    // is let through at once. Only hedging can end this call OK.
    hedged
        .unary_call(with_behavior("succeed-on-retry-attempt-1,sleep-60"))
        .await
        .unwrap();
}
