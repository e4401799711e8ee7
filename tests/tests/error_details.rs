//! Rich errors across languages: the `google.rpc` error details a Tern server sends are read by
//! grpcio with `grpcio-status`, and those a grpcio server sends with `grpcio-status` are read by
//! Tern's client, every standard detail type both ways.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tern::error_details::{bad_request, BadRequest, ErrorDetails, ErrorInfo, Help, RetryInfo};
use tern::{Code, Status};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::EchoRequest;
use tern_tests::{python, start_probe_server};
use tokio::io::{AsyncBufReadExt, BufReader};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/py/rich_errors.py");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn grpcio_status_reads_the_details_a_tern_server_sends() {
    let addr = start_probe_server().await;
    // Built with Tern's helpers; the probe fails the call with these bytes in its trailers.
    let status = Status::with_error_details(
        Code::FailedPrecondition,
        "cannot greet yet",
        ErrorDetails::new()
            .error_info("NOT_READY", "hello.example.com", [("shard", "7")])
            .retry_delay(Duration::from_millis(2500))
            .debug_info(["greeter.rs:10"], "warming up")
            .quota_violation("project:p", "daily limit")
            .precondition_violation("TOS", "example.com", "terms not accepted")
            .field_violation("name", "must not be empty")
            .field_violation("age", "must be at most 150")
            .request_info("req-9", "node 3")
            .resource_info("greeting", "hello/ada", "ada", "locked")
            .help_link("docs", "https://example.com/docs")
            .localized_message("fr-CH", "pas encore"),
    );
    let output = tokio::process::Command::new(python())
        .arg(SCRIPT)
        .args(["client", "--target", &addr.to_string()])
        .args(["--code", &(Code::FailedPrecondition as i32).to_string()])
        .args(["--message", "cannot greet yet"])
        .args(["--details-hex", &hex(status.details())])
        .output()
        .await
        .expect("run the grpcio-status client");
    assert!(
        output.status.success(),
        "grpcio-status client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).expect("JSON from the client");
    let expected = json!({
        "code": 9,
        "message": "cannot greet yet",
        "details": [
            {"type": "google.rpc.ErrorInfo", "value": {
                "reason": "NOT_READY", "domain": "hello.example.com", "metadata": {"shard": "7"}}},
            {"type": "google.rpc.RetryInfo", "value": {"retryDelay": "2.500s"}},
            {"type": "google.rpc.DebugInfo", "value": {
                "stackEntries": ["greeter.rs:10"], "detail": "warming up"}},
            {"type": "google.rpc.QuotaFailure", "value": {"violations": [
                {"subject": "project:p", "description": "daily limit"}]}},
            {"type": "google.rpc.PreconditionFailure", "value": {"violations": [
                {"type": "TOS", "subject": "example.com", "description": "terms not accepted"}]}},
            {"type": "google.rpc.BadRequest", "value": {"fieldViolations": [
                {"field": "name", "description": "must not be empty"},
                {"field": "age", "description": "must be at most 150"}]}},
            {"type": "google.rpc.RequestInfo", "value": {
                "requestId": "req-9", "servingData": "node 3"}},
            {"type": "google.rpc.ResourceInfo", "value": {
                "resourceType": "greeting", "resourceName": "hello/ada", "owner": "ada",
                "description": "locked"}},
            {"type": "google.rpc.Help", "value": {"links": [
                {"description": "docs", "url": "https://example.com/docs"}]}},
            {"type": "google.rpc.LocalizedMessage", "value": {
                "locale": "fr-CH", "message": "pas encore"}},
        ],
    });
    assert_eq!(read, expected);
}

#[tokio::test]
async fn tern_reads_the_details_a_grpcio_server_sends() {
    let mut server = tokio::process::Command::new(python())
        .args([SCRIPT, "server"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the grpcio-status server");
    let stdout = server.stdout.take().expect("server stdout");
    let mut port = String::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(stdout).read_line(&mut port),
    )
    .await
    .expect("the server started")
    .expect("read the server's first line");
    let port = port
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("expected 'listening on PORT', got {port:?}"))
        .to_owned();

    let client = ProbeClient::connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    let status = client.echo(EchoRequest::default()).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(status.message(), "the request has 2 invalid fields");
    let details = status.error_details().expect("details that decode");
    assert_eq!(details.len(), 10);

    let info = details.get::<ErrorInfo>().unwrap();
    assert_eq!(info.reason, "API_DISABLED");
    assert_eq!(info.domain, "hello.example.com");
    assert_eq!(
        info.metadata.get("service").map(String::as_str),
        Some("hello")
    );
    assert_eq!(details.retry_after(), Some(Duration::from_millis(1500)));
    assert!(details.get::<RetryInfo>().is_some());
    let bad_request = details.get::<BadRequest>().unwrap();
    assert_eq!(
        bad_request.field_violations,
        vec![
            bad_request::FieldViolation {
                field: "name".into(),
                description: "must not be empty".into(),
                ..Default::default()
            },
            bad_request::FieldViolation {
                field: "age".into(),
                description: "must be at most 150".into(),
                ..Default::default()
            },
        ]
    );
    assert_eq!(
        details.get::<Help>().unwrap().links[0].url,
        "https://example.com/docs"
    );
    // The same details, built with Tern's helpers, compare equal detail for detail.
    let expected = ErrorDetails::new()
        .error_info("API_DISABLED", "hello.example.com", [("service", "hello")])
        .retry_delay(Duration::from_millis(1500))
        .debug_info(["main.py:1", "server.py:2"], "stack")
        .quota_violation("project:p", "daily limit")
        .precondition_violation("TOS", "example.com", "terms not accepted")
        .field_violation("name", "must not be empty")
        .field_violation("age", "must be at most 150")
        .request_info("req-1", "shard 7")
        .resource_info("user", "ada", "admin", "not found")
        .help_link("docs", "https://example.com/docs")
        .localized_message("fr-CH", "nom manquant");
    assert_eq!(details, expected);

    drop(server.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(10), server.wait()).await;
}
