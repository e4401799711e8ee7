//! Interceptors on the server and the client: their order, rejection before the handler (which
//! then never runs), metadata changes the handler sees, typed extensions, response headers and
//! trailers, observation of every message of every call kind with its size on the wire, the
//! final status (cancellation included), panics in interceptors and observers, and the built-in
//! ones. Over the in-memory transport; `interceptors_peers.rs` checks the wire against grpcio.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_core::Stream;
use tern::codegen::prost::Message as _;
use tern::interceptor::builtin::{
    ApiKey, BearerAuth, BearerToken, ConcurrencyLimit, DefaultTimeout, MaxTimeout, RateLimit,
};
use tern::interceptor::{
    client_fn, from_fn, CallObserver, ClientInterceptor, IncomingCall, Message, OutgoingCall,
    ServerInterceptor,
};
use tern::memory::{MemoryConnector, MemoryListener};
use tern::{Channel, Code, Metadata, Request, Response, Status, Streaming};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::{Probe, ProbeServer};
use tern_tests::probe::{CountRequest, EchoReply, EchoRequest, Number};
use tern_tests::Items;
use tern_tests::ProbeService;

/// What the interceptors of a test saw, in order.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, event: String) {
        self.0.lock().unwrap().push(event);
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// Waits (bounded) until an event satisfying `f` has been logged, for ends that come after
    /// the client has its answer.
    async fn wait_for(&self, f: impl Fn(&str) -> bool) {
        for _ in 0..500 {
            if self.0.lock().unwrap().iter().any(|e| f(e)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never logged; log: {:?}", self.0.lock().unwrap());
    }
}

/// Logs the start, each message, the response headers and the end of every call.
struct Record {
    name: &'static str,
    log: Log,
}

struct RecordCall {
    name: &'static str,
    log: Log,
}

impl CallObserver for RecordCall {
    fn on_request(&mut self, message: &Message<'_>) {
        self.log
            .push(format!("{} request {}", self.name, message.wire_size()));
    }

    fn on_response(&mut self, message: &Message<'_>) {
        self.log
            .push(format!("{} response {}", self.name, message.wire_size()));
    }

    fn on_response_headers(&mut self, headers: &Metadata) {
        let initial = headers.get("x-initial").unwrap_or("-");
        self.log
            .push(format!("{} headers x-initial={initial}", self.name));
    }

    fn on_finish(&mut self, status: &Status, trailers: &mut Metadata) {
        let trailing = trailers.get("x-trailing").unwrap_or("-").to_owned();
        self.log.push(format!(
            "{} finish {} x-trailing={trailing}",
            self.name,
            status.code().name()
        ));
    }
}

impl ServerInterceptor for Record {
    type Observer = RecordCall;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<RecordCall, Status> {
        self.log
            .push(format!("{} start {}", self.name, call.method()));
        Ok(RecordCall {
            name: self.name,
            log: self.log.clone(),
        })
    }
}

impl ClientInterceptor for Record {
    type Observer = RecordCall;

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<RecordCall, Status> {
        self.log
            .push(format!("{} start {}", self.name, call.method()));
        Ok(RecordCall {
            name: self.name,
            log: self.log.clone(),
        })
    }
}

/// The tenant an interceptor found, handed to the handler.
#[derive(Clone)]
struct Tenant(String);

/// Requires `x-tenant`, puts it in the request's extensions, rewrites `x-probe` (which the echo
/// handler sends back) and adds a response header.
struct RequireTenant;

impl ServerInterceptor for RequireTenant {
    type Observer = ();

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<(), Status> {
        call.response_headers_mut()
            .insert("x-checked-by", "tenant")?;
        let tenant = call
            .metadata()
            .get("x-tenant")
            .ok_or_else(|| Status::unauthenticated("no tenant"))?
            .to_owned();
        // A slow check (a lookup elsewhere, say) must not hold anything up.
        tokio::task::yield_now().await;
        call.metadata_mut()
            .insert("x-probe", &format!("tenant {tenant}"))?;
        call.extensions_mut().insert(Tenant(tenant));
        Ok(())
    }
}

/// The probe's handlers, counting how often each runs and showing the tenant extension.
#[derive(Clone, Default)]
struct Counting {
    calls: Arc<AtomicUsize>,
}

impl Probe for Counting {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let tenant = request.extensions().get::<Tenant>().map(|t| t.0.clone());
        let mut response = ProbeService.echo(request).await?;
        if let Some(tenant) = tenant {
            response.metadata_mut().insert("x-tenant-seen", &tenant)?;
        }
        Ok(response)
    }

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ProbeService.count(request).await
    }

    async fn sum(&self, request: Request<Streaming<Number>>) -> Result<Response<Number>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ProbeService.sum(request).await
    }

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        ProbeService.chat(request).await
    }
}

/// Serves `router` in memory for the rest of the test; gives its connector.
fn serve<R: tern::server::Routes>(router: tern::server::Router<R>) -> MemoryConnector {
    let listener = MemoryListener::new();
    let connector = listener.connector();
    tokio::spawn(router.serve_memory(listener, std::future::pending()));
    connector
}

fn numbers(values: &[i64]) -> impl Stream<Item = Number> + Send + 'static {
    Items(values.iter().map(|&value| Number { value }).collect())
}

fn chat_requests(messages: &[&str]) -> impl Stream<Item = EchoRequest> + Send + 'static {
    Items(
        messages
            .iter()
            .map(|m| EchoRequest {
                message: (*m).to_owned(),
                ..Default::default()
            })
            .collect(),
    )
}

fn echo(message: &str) -> EchoRequest {
    EchoRequest {
        message: message.to_owned(),
        ..Default::default()
    }
}

fn reply(message: &str) -> EchoReply {
    EchoReply {
        message: message.to_owned(),
        ..Default::default()
    }
}

#[tokio::test]
async fn server_interceptors_run_in_order_and_observe_every_message_of_every_call_kind() {
    let log = Log::default();
    let service = ProbeServer::new(ProbeService).intercept(Record {
        name: "C",
        log: log.clone(),
    });
    let connector = serve(
        tern::Server::builder()
            .intercept(Record {
                name: "A",
                log: log.clone(),
            })
            .add_service(service)
            .intercept(Record {
                name: "B",
                log: log.clone(),
            }),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());

    // Unary: the whole sequence, exactly.
    client.echo(echo("hi")).await.unwrap();
    let request = echo("hi").encoded_len();
    let response = reply("hi").encoded_len();
    assert_eq!(
        log.take(),
        [
            "A start Echo".to_owned(),
            "B start Echo".into(),
            "C start Echo".into(),
            format!("A request {request}"),
            format!("B request {request}"),
            format!("C request {request}"),
            format!("A response {response}"),
            format!("B response {response}"),
            format!("C response {response}"),
            // The handler's own trailer is there when the observers see the end.
            "C finish OK x-trailing=there".into(),
            "B finish OK x-trailing=there".into(),
            "A finish OK x-trailing=there".into(),
        ]
    );

    // Server streaming: one request, three responses.
    let mut stream = client
        .count(CountRequest {
            count: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    let events = log.take();
    assert_eq!(
        events[..3],
        ["A start Count", "B start Count", "C start Count"]
    );
    let count_request = CountRequest {
        count: 3,
        ..Default::default()
    }
    .encoded_len();
    assert_eq!(events[3], format!("A request {count_request}"));
    let responses: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("A response"))
        .collect();
    assert_eq!(
        responses,
        ["A response 3", "A response 3", "A response 3"],
        "each reply is field 1 with one digit: 3 bytes"
    );
    assert_eq!(
        events[events.len() - 3..],
        [
            "C finish OK x-trailing=-",
            "B finish OK x-trailing=-",
            "A finish OK x-trailing=-"
        ]
    );

    // Client streaming: three requests, one response.
    let sum = client
        .sum(numbers(&[1, 2, 300]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sum.value, 303);
    let events = log.take();
    let requests: Vec<&String> = events
        .iter()
        .filter(|e| e.starts_with("B request"))
        .collect();
    assert_eq!(requests, ["B request 2", "B request 2", "B request 3"]);
    assert!(events.contains(&format!(
        "C response {}",
        Number { value: 303 }.encoded_len()
    )));
    assert_eq!(events.last().unwrap(), "A finish OK x-trailing=-");

    // Bidi: requests and responses interleave; each is seen once by each observer.
    let mut chat = client
        .chat(chat_requests(&["one", "two"]))
        .await
        .unwrap()
        .into_inner();
    let mut answers = Vec::new();
    while let Some(answer) = chat.message().await.unwrap() {
        answers.push(answer.message);
    }
    assert_eq!(answers, ["one", "two"]);
    let events = log.take();
    for name in ["A", "B", "C"] {
        let seen = |kind: &str| {
            events
                .iter()
                .filter(|e| e.starts_with(&format!("{name} {kind}")))
                .count()
        };
        assert_eq!(seen("request"), 2, "{events:?}");
        assert_eq!(seen("response"), 2, "{events:?}");
        assert_eq!(seen("finish OK"), 1, "{events:?}");
    }
    assert_eq!(
        events[..3],
        ["A start Chat", "B start Chat", "C start Chat"]
    );
    assert_eq!(events.last().unwrap(), "A finish OK x-trailing=-");
}

#[tokio::test]
async fn a_rejected_call_never_reaches_its_handler_and_an_accepted_one_sees_the_changes() {
    let log = Log::default();
    let counting = Counting::default();
    let connector = serve(
        tern::Server::builder()
            .intercept(Record {
                name: "log",
                log: log.clone(),
            })
            .intercept(RequireTenant)
            .add_service(ProbeServer::new(counting.clone())),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());

    // No tenant: every call kind is refused before its handler.
    let status = client.echo(echo("hi")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "no tenant");
    // Headers an interceptor added before refusing go out with the status.
    assert_eq!(status.metadata().get("x-checked-by"), Some("tenant"));
    let status = client
        .count(CountRequest {
            count: 3,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client.sum(numbers(&[1, 2])).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let mut chat = client
        .chat(chat_requests(&["one"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        chat.message().await.unwrap_err().code(),
        Code::Unauthenticated
    );
    assert_eq!(counting.calls.load(Ordering::SeqCst), 0, "no handler ran");
    // The interceptor before the one that refused heard each refusal as the call's end.
    let events = log.take();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.ends_with("finish UNAUTHENTICATED x-trailing=-"))
            .count(),
        4,
        "{events:?}"
    );
    assert!(!events.iter().any(|e| e.contains("request")), "{events:?}");

    // With a tenant: the handler runs once, sees the rewritten metadata and the extension.
    let mut request = Request::new(echo("hi"));
    request.metadata_mut().insert("x-tenant", "acme").unwrap();
    request
        .metadata_mut()
        .insert("x-probe", "original")
        .unwrap();
    let response = client.echo(request).await.unwrap();
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
    assert_eq!(response.get_ref().probe_header, "tenant acme");
    assert_eq!(response.metadata().get("x-tenant-seen"), Some("acme"));
    assert_eq!(response.metadata().get("x-checked-by"), Some("tenant"));
    assert_eq!(response.metadata().get("x-initial"), Some("here"));
}

#[tokio::test]
async fn client_interceptors_change_the_request_and_observe_the_response() {
    let connector = serve(tern::Server::builder().add_service(ProbeServer::new(ProbeService)));
    let log = Log::default();
    let channel = connector
        .channel_builder()
        .unwrap()
        .intercept(Record {
            name: "A",
            log: log.clone(),
        })
        .intercept(client_fn(|call| {
            call.metadata_mut().insert("x-probe", "from the client")?;
            Ok(())
        }))
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);

    let response = client.echo(echo("hi")).await.unwrap();
    assert_eq!(response.get_ref().probe_header, "from the client");
    assert_eq!(
        log.take(),
        [
            "A start Echo".to_owned(),
            format!("A request {}", echo("hi").encoded_len()),
            "A headers x-initial=here".into(),
            format!(
                "A response {}",
                EchoReply {
                    message: "hi".into(),
                    probe_header: "from the client".into(),
                    ..Default::default()
                }
                .encoded_len()
            ),
            "A finish OK x-trailing=there".into(),
        ]
    );

    // Server streaming: the responses as they are read, then the end.
    let mut stream = client
        .count(CountRequest {
            count: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    let events = log.take();
    assert_eq!(
        events[2..],
        [
            "A headers x-initial=-",
            "A response 3",
            "A response 3",
            "A finish OK x-trailing=-"
        ]
    );

    // Client streaming and bidi: each request as it is sent.
    client.sum(numbers(&[5, 6, 7])).await.unwrap();
    let events = log.take();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("A request")).count(),
        3
    );
    assert_eq!(events.last().unwrap(), "A finish OK x-trailing=-");
    let mut chat = client
        .chat(chat_requests(&["x", "y", "z"]))
        .await
        .unwrap()
        .into_inner();
    while chat.message().await.unwrap().is_some() {}
    let events = log.take();
    assert_eq!(
        events.iter().filter(|e| e.starts_with("A request")).count(),
        3
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("A response"))
            .count(),
        3
    );
    assert_eq!(events.last().unwrap(), "A finish OK x-trailing=-");

    // A failed call ends with its status.
    let status = client
        .echo(EchoRequest {
            fail_code: Code::NotFound as i32,
            fail_message: "gone".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    assert_eq!(
        log.take().last().unwrap(),
        "A finish NOT_FOUND x-trailing=-"
    );
}

#[tokio::test]
async fn a_client_interceptor_that_refuses_sends_nothing() {
    let counting = Counting::default();
    let connector = serve(tern::Server::builder().add_service(ProbeServer::new(counting.clone())));
    let log = Log::default();
    let channel = connector
        .channel_builder()
        .unwrap()
        .intercept(Record {
            name: "A",
            log: log.clone(),
        })
        .intercept(client_fn(|_| {
            Err(Status::failed_precondition("offline mode"))
        }))
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    let status = client.echo(echo("hi")).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let status = client.sum(numbers(&[1])).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert_eq!(counting.calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        log.take(),
        [
            "A start Echo",
            "A finish FAILED_PRECONDITION x-trailing=-",
            "A start Sum",
            "A finish FAILED_PRECONDITION x-trailing=-"
        ]
    );
}

#[tokio::test]
async fn observers_hear_a_cancelled_call_end() {
    let log = Log::default();
    let connector = serve(
        tern::Server::builder()
            .intercept(Record {
                name: "server",
                log: log.clone(),
            })
            .add_service(ProbeServer::new(ProbeService)),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
    // The client gives up on a slow call: the server's observers hear CANCELLED.
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .echo(EchoRequest {
                    sleep_ms: 30_000,
                    ..Default::default()
                })
                .await
        }
    });
    log.wait_for(|e| e.starts_with("server request")).await;
    call.abort();
    log.wait_for(|e| e == "server finish CANCELLED x-trailing=-")
        .await;

    // A deadline that passes on the server ends the call with DEADLINE_EXCEEDED. (The server's
    // own, so that the client's reset cannot race it.)
    let connector = serve(
        tern::Server::builder()
            .intercept(Record {
                name: "server",
                log: log.clone(),
            })
            .intercept(MaxTimeout::new(Duration::from_millis(100)))
            .add_service(ProbeServer::new(ProbeService)),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
    let request = Request::new(EchoRequest {
        sleep_ms: 30_000,
        ..Default::default()
    });
    let status = client.echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    log.wait_for(|e| e == "server finish DEADLINE_EXCEEDED x-trailing=-")
        .await;
}

/// Panics in its interceptor or in its observer, as the request says.
struct Fragile;

struct FragileObserver;

impl CallObserver for FragileObserver {
    fn on_response(&mut self, _: &Message<'_>) {
        panic!("observer bug");
    }
}

impl ServerInterceptor for Fragile {
    type Observer = FragileObserver;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<FragileObserver, Status> {
        if call.metadata().get("x-panic").is_some() {
            panic!("interceptor bug");
        }
        Ok(FragileObserver)
    }
}

#[tokio::test]
async fn a_panicking_interceptor_fails_its_call_and_a_panicking_observer_fails_nothing() {
    let connector = serve(
        tern::Server::builder()
            .intercept(Fragile)
            .add_service(ProbeServer::new(ProbeService)),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
    let mut request = Request::new(echo("hi"));
    request.metadata_mut().insert("x-panic", "yes").unwrap();
    let status = client.echo(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unknown);
    // The observer panics on every response; the calls still succeed.
    for _ in 0..3 {
        assert_eq!(
            client.echo(echo("ok")).await.unwrap().get_ref().message,
            "ok"
        );
    }
}

#[tokio::test]
async fn bearer_tokens_api_keys_and_a_validator_that_hands_over_the_user() {
    let connector = serve(
        tern::Server::builder()
            .add_service(ProbeServer::new(ProbeService).intercept(BearerToken::new(["s3cret"]))),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
    let with_auth = |value: &str| {
        let mut request = Request::new(echo("hi"));
        request
            .metadata_mut()
            .insert("authorization", value)
            .unwrap();
        request
    };
    let refused = |r: Result<Response<EchoReply>, Status>| r.unwrap_err().code();
    assert_eq!(
        refused(client.echo(echo("hi")).await),
        Code::Unauthenticated
    );
    assert_eq!(
        refused(client.echo(with_auth("Bearer wrong")).await),
        Code::Unauthenticated
    );
    assert_eq!(
        refused(client.echo(with_auth("Basic czNjcmV0")).await),
        Code::Unauthenticated
    );
    client.echo(with_auth("Bearer s3cret")).await.unwrap();

    let connector = serve(tern::Server::builder().add_service(
        ProbeServer::new(ProbeService).intercept(ApiKey::new("x-api-key", ["k1", "k2"])),
    ));
    let client = ProbeClient::new(connector.connect().await.unwrap());
    let mut request = Request::new(echo("hi"));
    request.metadata_mut().insert("x-api-key", "k2").unwrap();
    client.echo(request).await.unwrap();
    let mut request = Request::new(echo("hi"));
    request.metadata_mut().insert("x-api-key", "k3").unwrap();
    assert_eq!(refused(client.echo(request).await), Code::Unauthenticated);

    let counting = Counting::default();
    let auth = BearerAuth::new(|token: String| async move {
        match token.as_str() {
            "alice-token" => Ok(Tenant("alice".into())),
            _ => Err(Status::permission_denied("unknown token")),
        }
    });
    let connector = serve(
        tern::Server::builder()
            .intercept(auth)
            .add_service(ProbeServer::new(counting.clone())),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
    let response = client.echo(with_auth("Bearer alice-token")).await.unwrap();
    assert_eq!(response.metadata().get("x-tenant-seen"), Some("alice"));
    assert_eq!(
        refused(client.echo(with_auth("Bearer mallory")).await),
        Code::PermissionDenied
    );
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn the_concurrency_limit_sheds_calls_over_it_and_frees_its_place_when_a_call_ends() {
    let limit = ConcurrencyLimit::new(1);
    let connector = serve(
        tern::Server::builder()
            .intercept(limit.clone())
            .add_service(ProbeServer::new(ProbeService)),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
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
    for _ in 0..500 {
        if limit.available() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(limit.available(), 0, "the slow call holds the only place");
    let status = client.echo(echo("shed")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert_eq!(slow.await.unwrap().unwrap().get_ref().message, "slow");
    assert_eq!(limit.available(), 1);
    client.echo(echo("after")).await.unwrap();
    // A stream holds its place until it ends.
    let mut stream = client
        .count(CountRequest {
            count: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while stream.message().await.unwrap().is_some() {}
    for _ in 0..500 {
        if limit.available() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(limit.available(), 1);
}

#[tokio::test]
async fn the_rate_limit_refuses_calls_over_its_burst_with_a_pushback() {
    // One call an hour: the burst of two goes through, the third is refused.
    let connector = serve(
        tern::Server::builder()
            .intercept(RateLimit::new(1.0 / 3600.0, 2))
            .add_service(ProbeServer::new(ProbeService)),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
    client.echo(echo("1")).await.unwrap();
    client.echo(echo("2")).await.unwrap();
    let status = client.echo(echo("3")).await.unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let pushback: u64 = status
        .metadata()
        .get("grpc-retry-pushback-ms")
        .expect("a pushback")
        .parse()
        .unwrap();
    assert!(pushback > 1_000, "about an hour, got {pushback} ms");
}

#[tokio::test]
async fn deadlines_capped_on_the_server_and_defaulted_on_the_client() {
    let connector = serve(
        tern::Server::builder()
            .intercept(MaxTimeout::new(Duration::from_millis(100)))
            .add_service(ProbeServer::new(ProbeService)),
    );
    let client = ProbeClient::new(connector.connect().await.unwrap());
    // No deadline of its own, and a handler that would take 30 s: the cap ends it.
    let status = client
        .echo(EchoRequest {
            sleep_ms: 30_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
    client.echo(echo("quick")).await.unwrap();

    let connector = serve(tern::Server::builder().add_service(ProbeServer::new(ProbeService)));
    let channel: Channel = connector
        .channel_builder()
        .unwrap()
        .intercept(DefaultTimeout::new(Duration::from_millis(100)))
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    let status = client
        .echo(EchoRequest {
            sleep_ms: 30_000,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
}

#[tokio::test]
async fn a_plain_function_interceptor_and_unknown_methods() {
    let log = Log::default();
    let connector = serve(
        tern::Server::builder()
            .intercept(Record {
                name: "A",
                log: log.clone(),
            })
            .intercept(from_fn(|call| {
                if call.method() == "Sum" {
                    Err(Status::permission_denied("no sums today"))
                } else {
                    Ok(())
                }
            }))
            .add_service(ProbeServer::new(ProbeService)),
    );
    let channel = connector.connect().await.unwrap();
    let client = ProbeClient::new(channel.clone());
    assert_eq!(
        client.sum(numbers(&[1])).await.unwrap_err().code(),
        Code::PermissionDenied
    );
    client.echo(echo("fine")).await.unwrap();
    log.take();
    // A server's interceptors see calls to methods it does not have, and their end.
    let raw = tern::codegen::Client::new(channel);
    let status = raw
        .unary(
            tern::codegen::PathAndQuery::from_static("/tern.probe.Probe/Nope"),
            Request::new(echo("x")),
            tern::codegen::ProstCodec::<EchoRequest, EchoReply>::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented);
    assert_eq!(
        log.take(),
        ["A start Nope", "A finish UNIMPLEMENTED x-trailing=-"]
    );
}
