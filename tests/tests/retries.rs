//! Retries and hedging from a channel's service config (gRFC A6) against a server that fails
//! on purpose: attempts until one succeeds, `grpc-previous-rpc-attempts` on each retry, the
//! attempt limit, codes the policy does not name, the server's pushback, no retry once response
//! headers have arrived, the throttle; hedges sent while the first attempt is slow, at once
//! after a non-fatal failure, and none after a fatal one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures_core::Stream;
use tern::memory::{MemoryConnector, MemoryListener};
use tern::{Code, Request, Response, Status, Streaming};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::{Probe, ProbeServer};
use tern_tests::probe::{CountRequest, EchoReply, EchoRequest, Number};
use tern_tests::Items;
use tern_tests::ProbeService;

/// Fails Echo with the request's `fail_code` until the attempt numbered by its `sleep_ms`
/// field (1-based; reused as a plain number here), and records each attempt's
/// `grpc-previous-rpc-attempts`. `fail_message` "pushback=N" adds that pushback.
#[derive(Clone, Default)]
struct Flaky {
    attempts: Arc<Mutex<Vec<String>>>,
    streams: Arc<AtomicUsize>,
}

impl Probe for Flaky {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let previous = request
            .metadata()
            .get("grpc-previous-rpc-attempts")
            .unwrap_or("-")
            .to_owned();
        let attempt = self.attempts.lock().unwrap().len() as u32 + 1;
        self.attempts.lock().unwrap().push(previous);
        let request = request.into_inner();
        if request.fail_message == "slow-first" && attempt == 1 {
            // Hedging: the first attempt never answers in time.
            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        }
        if attempt < request.sleep_ms {
            let mut status = Status::new(Code::from_i32(request.fail_code), "flaky");
            if let Some(ms) = request.fail_message.strip_prefix("pushback=") {
                status.metadata_mut().insert("grpc-retry-pushback-ms", ms)?;
            }
            return Err(status);
        }
        Ok(Response::new(EchoReply {
            message: format!("attempt {attempt}"),
            ..Default::default()
        }))
    }

    async fn count(
        &self,
        _request: Request<CountRequest>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        // Headers and one message, then UNAVAILABLE: committed, so never retried.
        self.streams.fetch_add(1, Ordering::SeqCst);
        let items = vec![
            Ok(EchoReply {
                message: "first".into(),
                ..Default::default()
            }),
            Err(Status::unavailable("gone mid-stream")),
        ];
        Ok(Response::new(Items(items.into())))
    }

    async fn sum(&self, request: Request<Streaming<Number>>) -> Result<Response<Number>, Status> {
        // Reads the whole stream, then fails the first attempt: a retry must send it all again.
        let previous = request
            .metadata()
            .get("grpc-previous-rpc-attempts")
            .unwrap_or("-")
            .to_owned();
        let mut numbers = request.into_inner();
        let (mut count, mut value) = (0, 0);
        while let Some(number) = numbers.message().await? {
            count += 1;
            value += number.value;
        }
        self.attempts
            .lock()
            .unwrap()
            .push(format!("{previous}: {count} numbers"));
        if previous == "-" {
            return Err(Status::unavailable("first attempts fail"));
        }
        Ok(Response::new(Number { value }))
    }

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        ProbeService.chat(request).await
    }
}

fn serve(flaky: Flaky) -> MemoryConnector {
    let listener = MemoryListener::new();
    let connector = listener.connector();
    tokio::spawn(
        tern::Server::builder()
            .add_service(ProbeServer::new(flaky))
            .serve_memory(listener, std::future::pending()),
    );
    connector
}

const POLICY: &str = r#"{"methodConfig": [{"name": [{"service": "tern.probe.Probe"}],
  "retryPolicy": {"maxAttempts": 4, "initialBackoff": "0.01s", "maxBackoff": "0.05s",
                  "backoffMultiplier": 2, "retryableStatusCodes": ["UNAVAILABLE"]}}]}"#;

async fn client(connector: &MemoryConnector, config: &str) -> ProbeClient {
    let channel = connector
        .channel_builder()
        .unwrap()
        .default_service_config(config)
        .unwrap()
        .connect()
        .await
        .unwrap();
    ProbeClient::new(channel)
}

fn flaky(succeed_on: u32, code: Code, message: &str) -> EchoRequest {
    EchoRequest {
        sleep_ms: succeed_on,
        fail_code: code as i32,
        fail_message: message.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn retries_until_an_attempt_succeeds_counting_the_attempts() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), POLICY).await;
    let reply = client.echo(flaky(3, Code::Unavailable, "")).await.unwrap();
    assert_eq!(reply.get_ref().message, "attempt 3");
    assert_eq!(*server.attempts.lock().unwrap(), ["-", "1", "2"]);
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), POLICY).await;
    let status = client
        .echo(flaky(100, Code::Unavailable, ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(*server.attempts.lock().unwrap(), ["-", "1", "2", "3"]);
}

#[tokio::test]
async fn codes_the_policy_does_not_name_are_not_retried() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), POLICY).await;
    let status = client
        .echo(flaky(2, Code::InvalidArgument, ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(server.attempts.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_server_pushback_is_obeyed() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), POLICY).await;
    // A negative pushback: do not retry.
    let status = client
        .echo(flaky(2, Code::Unavailable, "pushback=-1"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(server.attempts.lock().unwrap().len(), 1);
    // A pushback of 0 ms: retry at once.
    server.attempts.lock().unwrap().clear();
    client
        .echo(flaky(2, Code::Unavailable, "pushback=0"))
        .await
        .unwrap();
    assert_eq!(server.attempts.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_call_whose_headers_arrived_is_committed() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), POLICY).await;
    let mut stream = client
        .count(CountRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.message().await.unwrap().unwrap().message, "first");
    assert_eq!(
        stream.message().await.unwrap_err().code(),
        Code::Unavailable
    );
    assert_eq!(server.streams.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_throttle_stops_retries_when_failures_outweigh_successes() {
    let server = Flaky::default();
    // Two tokens: the first failure leaves one, not above half, so nothing is retried.
    let config = POLICY.trim_end_matches('}').to_owned()
        + r#", "retryThrottling": {"maxTokens": 2, "tokenRatio": 0.1}}"#;
    let client = client(&serve(server.clone()), &config).await;
    let status = client
        .echo(flaky(2, Code::Unavailable, ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(server.attempts.lock().unwrap().len(), 1);
}

const HEDGING: &str = r#"{"methodConfig": [{"name": [{"service": "tern.probe.Probe"}],
  "hedgingPolicy": {"maxAttempts": 3, "hedgingDelay": "0.05s",
                    "nonFatalStatusCodes": ["UNAVAILABLE"]}}]}"#;

/// A bound on a call that should end at once, so that a broken hedge fails the test rather
/// than hanging it (not a timing assertion: the policy's delays are far longer or far shorter).
async fn bounded<T>(call: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(60), call)
        .await
        .expect("the call ended")
}

#[tokio::test]
async fn a_hedge_answers_while_the_first_attempt_is_slow() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), HEDGING).await;
    let reply = bounded(client.echo(flaky(0, Code::Ok, "slow-first")))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "attempt 2");
    assert_eq!(*server.attempts.lock().unwrap(), ["-", "1"]);
}

#[tokio::test]
async fn a_non_fatal_failure_sends_the_next_hedge_at_once_and_a_fatal_one_ends_the_call() {
    let server = Flaky::default();
    // A delay far longer than the test: only the non-fatal rule can send the second attempt.
    let config = HEDGING.replace("0.05s", "1000s");
    let client = client(&serve(server.clone()), &config).await;
    let reply = bounded(client.echo(flaky(2, Code::Unavailable, "")))
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "attempt 2");
    assert_eq!(*server.attempts.lock().unwrap(), ["-", "1"]);

    server.attempts.lock().unwrap().clear();
    let status = bounded(client.echo(flaky(2, Code::InvalidArgument, "")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(server.attempts.lock().unwrap().len(), 1);

    // Every attempt failing non-fatally: the last failure, after maxAttempts.
    server.attempts.lock().unwrap().clear();
    let status = bounded(client.echo(flaky(100, Code::Unavailable, "")))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(*server.attempts.lock().unwrap(), ["-", "1", "2"]);
}

fn numbers(count: i64) -> impl Stream<Item = Number> + Send + 'static {
    Items((1..=count).map(|value| Number { value }).collect())
}

#[tokio::test]
async fn a_client_stream_is_sent_again_from_its_first_message() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), POLICY).await;
    let sum = bounded(client.sum(numbers(1000))).await.unwrap();
    assert_eq!(sum.get_ref().value, 500_500);
    assert_eq!(
        *server.attempts.lock().unwrap(),
        ["-: 1000 numbers", "1: 1000 numbers"]
    );
}

#[tokio::test]
async fn a_client_stream_past_the_replay_buffer_is_not_retried() {
    let server = Flaky::default();
    let client = client(&serve(server.clone()), POLICY).await;
    // 200,000 numbers take more than the 1 MiB kept for retries.
    let status = bounded(client.sum(numbers(200_000))).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(*server.attempts.lock().unwrap(), ["-: 200000 numbers"]);
}
