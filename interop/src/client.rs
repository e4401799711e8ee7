//! The interop test cases, run by Tern's client against any implementation's TestService, each
//! as the interop test descriptions specify it. A case returns `Err` with what went wrong.

use std::collections::VecDeque;
use std::time::Duration;

use futures_core::Stream;
use tern::{Channel, Code, CompressionEncoding, CompressionSwitch, Request, Status};

use crate::pb::test_service_client::TestServiceClient;
use crate::pb::unimplemented_service_client::UnimplementedServiceClient;
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest,
    StreamingInputCallRequest, StreamingOutputCallRequest,
};

/// What a failed case says.
pub type CaseResult = Result<(), String>;

/// Every case this client runs.
pub const CASES: &[&str] = &[
    "empty_unary",
    "large_unary",
    "client_compressed_unary",
    "server_compressed_unary",
    "client_streaming",
    "client_compressed_streaming",
    "server_streaming",
    "server_compressed_streaming",
    "ping_pong",
    "empty_stream",
    "cancel_after_begin",
    "cancel_after_first_response",
    "timeout_on_sleeping_server",
    "custom_metadata",
    "status_code_and_message",
    "special_status_message",
    "unimplemented_method",
    "unimplemented_service",
    "rpc_soak",
    "channel_soak",
];

/// How to reach the server under test: its target and, over TLS, the settings and the name to
/// expect in its certificate; call credentials for the auth cases.
#[derive(Clone, Debug)]
pub struct Connector {
    /// `http://host:port` or `https://host:port`.
    pub target: String,
    pub tls: Option<tern::tls::ClientTlsConfig>,
    /// `--server_host_override`: SNI, the name checked and `:authority`.
    pub host_override: Option<String>,
    pub credentials: Option<tern::credentials::Credentials>,
}

impl Connector {
    /// A new channel (so a new connection) to the server.
    pub async fn connect(&self) -> Result<Channel, String> {
        let mut builder = Channel::builder(&self.target).map_err(|e| e.to_string())?;
        if let Some(tls) = &self.tls {
            builder = builder.tls(tls.clone());
        }
        if let Some(name) = &self.host_override {
            builder = builder
                .authority_override(name)
                .map_err(|e| e.to_string())?;
        }
        if let Some(credentials) = &self.credentials {
            builder = builder.call_credentials(credentials.clone());
        }
        builder.connect().await.map_err(|e| e.to_string())
    }
}

/// Runs one case against the server `connector` reaches.
pub async fn run(case: &str, connector: &Connector, soak_iterations: u32) -> CaseResult {
    let channel = connector.connect().await?;
    let client = TestServiceClient::new(channel.clone());
    match case {
        "empty_unary" => empty_unary(&client).await,
        "large_unary" => large_unary(&client).await,
        "client_compressed_unary" => client_compressed_unary(&client).await,
        "server_compressed_unary" => server_compressed_unary(&client).await,
        "client_streaming" => client_streaming(&client).await,
        "client_compressed_streaming" => client_compressed_streaming(&client).await,
        "server_streaming" => server_streaming(&client).await,
        "server_compressed_streaming" => server_compressed_streaming(&client).await,
        "ping_pong" => ping_pong(&client).await,
        "empty_stream" => empty_stream(&client).await,
        "cancel_after_begin" => cancel_after_begin(&client).await,
        "cancel_after_first_response" => cancel_after_first_response(&client).await,
        "timeout_on_sleeping_server" => timeout_on_sleeping_server(&client).await,
        "custom_metadata" => custom_metadata(&client).await,
        "status_code_and_message" => status_code_and_message(&client).await,
        "special_status_message" => special_status_message(&client).await,
        "unimplemented_method" => unimplemented_method(&client).await,
        "unimplemented_service" => unimplemented_service(channel).await,
        "rpc_soak" => rpc_soak(&client, soak_iterations).await,
        "channel_soak" => channel_soak(connector, soak_iterations).await,
        other => Err(format!("unknown test case {other:?}")),
    }
}

/// The auth cases, which need a service account key file.
pub const AUTH_CASES: &[&str] = &[
    "jwt_token_creds",
    "oauth2_auth_token",
    "per_rpc_creds",
    "service_account_creds",
];

/// Runs an auth case: a large unary call with the case's credentials, over TLS, whose
/// response must name the key file's account (and the scope asked for, where a token endpoint
/// is involved).
pub async fn run_auth(
    case: &str,
    connector: &Connector,
    account: &crate::auth::ServiceAccount,
    scope: &str,
) -> CaseResult {
    let mut connector = connector.clone();
    let mut per_call = None;
    let wants_scope = case != "jwt_token_creds";
    match case {
        "jwt_token_creds" => connector.credentials = Some(account.jwt_access_credentials()),
        "service_account_creds" => {
            connector.credentials = Some(account.access_token_credentials(scope))
        }
        "oauth2_auth_token" | "per_rpc_creds" => {
            let token = account.fetch_token(scope).await?;
            let credentials =
                tern::credentials::Credentials::bearer(token.value()).map_err(|e| e.to_string())?;
            if case == "per_rpc_creds" {
                per_call = Some(credentials);
            } else {
                connector.credentials = Some(credentials);
            }
        }
        other => return Err(format!("unknown auth case {other:?}")),
    }
    let client = TestServiceClient::new(connector.connect().await?);
    let mut request = Request::new(SimpleRequest {
        response_size: 314_159,
        payload: zeros(271_828),
        fill_username: true,
        fill_oauth_scope: wants_scope,
        ..SimpleRequest::default()
    });
    if let Some(credentials) = per_call {
        request.set_credentials(credentials);
    }
    let reply = client
        .unary_call(request)
        .await
        .map_err(|s| s.to_string())?
        .into_inner();
    check(
        !reply.username.is_empty() && account.json.contains(&reply.username),
        || {
            format!(
                "username {:?} is not the key file's account",
                reply.username
            )
        },
    )?;
    if wants_scope {
        check(
            !reply.oauth_scope.is_empty() && scope.contains(&reply.oauth_scope),
            || {
                format!(
                    "oauth_scope {:?} is not within {scope:?}",
                    reply.oauth_scope
                )
            },
        )?;
    }
    Ok(())
}

fn check(ok: bool, what: impl FnOnce() -> String) -> CaseResult {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

fn zeros(size: usize) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; size],
    })
}

fn payload_len(payload: &Option<Payload>) -> usize {
    payload.as_ref().map_or(0, |p| p.body.len())
}

fn call_failed(what: &str) -> impl FnOnce(Status) -> String + '_ {
    move |status| format!("{what} failed: {status}")
}

fn expect_code<T>(result: Result<T, Status>, code: Code, message: Option<&str>) -> CaseResult {
    match result {
        Ok(_) => Err(format!("expected {code}, the call succeeded")),
        Err(status) if status.code() != code => Err(format!("expected {code}, got {status}")),
        Err(status) => match message {
            Some(message) if status.message() != message => Err(format!(
                "expected message {message:?}, got {:?}",
                status.message()
            )),
            _ => Ok(()),
        },
    }
}

/// A request stream that yields its messages in order, setting the compression switch for
/// each as it hands it over (the runtime encodes a message as soon as it has it).
struct Scripted<T> {
    items: VecDeque<(T, bool)>,
    switch: CompressionSwitch,
}

impl<T: Unpin> Stream for Scripted<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        let next = self.items.pop_front().map(|(item, compressed)| {
            self.switch.set(compressed);
            item
        });
        std::task::Poll::Ready(next)
    }
}

fn scripted<T>(items: Vec<(T, bool)>) -> Request<Scripted<T>> {
    let switch = CompressionSwitch::new(false);
    let mut request = Request::new(Scripted {
        items: items.into(),
        switch: switch.clone(),
    });
    request.set_send_compression(CompressionEncoding::Gzip);
    request.set_compression_switch(switch);
    request
}

/// A request stream fed by the test as it goes, for the duplex cases.
struct Feed<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> Stream for Feed<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

fn feed<T>() -> (tokio::sync::mpsc::Sender<T>, Feed<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    (tx, Feed(rx))
}

async fn empty_unary(client: &TestServiceClient) -> CaseResult {
    let reply = client
        .empty_call(Empty {})
        .await
        .map_err(call_failed("EmptyCall"))?;
    check(*reply.get_ref() == Empty {}, || "reply is not empty".into())
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_size: 314_159,
        payload: zeros(271_828),
        ..SimpleRequest::default()
    }
}

async fn large_unary(client: &TestServiceClient) -> CaseResult {
    let reply = client
        .unary_call(large_request())
        .await
        .map_err(call_failed("UnaryCall"))?
        .into_inner();
    let len = payload_len(&reply.payload);
    check(len == 314_159, || {
        format!("response payload of {len} bytes, expected 314159")
    })
}

async fn client_compressed_unary(client: &TestServiceClient) -> CaseResult {
    // The probe: a request that claims compression but is sent uncompressed must be refused, or
    // the server cannot check compression and the rest proves nothing.
    let probe = SimpleRequest {
        expect_compressed: Some(BoolValue { value: true }),
        ..large_request()
    };
    expect_code(client.unary_call(probe).await, Code::InvalidArgument, None)
        .map_err(|e| format!("probe: {e}"))?;
    for compressed in [true, false] {
        let mut request = Request::new(SimpleRequest {
            expect_compressed: Some(BoolValue { value: compressed }),
            ..large_request()
        });
        if compressed {
            request.set_send_compression(CompressionEncoding::Gzip);
        }
        let reply = client
            .unary_call(request)
            .await
            .map_err(|s| format!("UnaryCall (compressed: {compressed}) failed: {s}"))?;
        let len = payload_len(&reply.get_ref().payload);
        check(len == 314_159, || {
            format!("response payload of {len} bytes")
        })?;
    }
    Ok(())
}

async fn server_compressed_unary(client: &TestServiceClient) -> CaseResult {
    for compressed in [true, false] {
        let request = SimpleRequest {
            response_compressed: Some(BoolValue { value: compressed }),
            ..large_request()
        };
        let reply = client
            .unary_call(request)
            .await
            .map_err(|s| format!("UnaryCall (response_compressed: {compressed}) failed: {s}"))?;
        check(reply.was_compressed() == compressed, || {
            format!(
                "asked for response_compressed={compressed}, the response came compressed={}",
                reply.was_compressed()
            )
        })?;
        let len = payload_len(&reply.get_ref().payload);
        check(len == 314_159, || {
            format!("response payload of {len} bytes")
        })?;
    }
    Ok(())
}

fn input(size: usize, expect_compressed: Option<bool>) -> StreamingInputCallRequest {
    StreamingInputCallRequest {
        payload: zeros(size),
        expect_compressed: expect_compressed.map(|value| BoolValue { value }),
    }
}

async fn client_streaming(client: &TestServiceClient) -> CaseResult {
    let messages = [27_182, 8, 1_828, 45_904].map(|size| input(size, None));
    let request = Scripted {
        items: messages.map(|m| (m, false)).into(),
        switch: CompressionSwitch::new(false),
    };
    let reply = client
        .streaming_input_call(request)
        .await
        .map_err(call_failed("StreamingInputCall"))?;
    let total = reply.get_ref().aggregated_payload_size;
    check(total == 74_922, || {
        format!("aggregated size {total}, expected 74922")
    })
}

async fn client_compressed_streaming(client: &TestServiceClient) -> CaseResult {
    let probe = scripted(vec![(input(27_182, Some(true)), false)]);
    expect_code(
        client.streaming_input_call(probe).await,
        Code::InvalidArgument,
        None,
    )
    .map_err(|e| format!("probe: {e}"))?;
    let request = scripted(vec![
        (input(27_182, Some(true)), true),
        (input(45_904, Some(false)), false),
    ]);
    let reply = client
        .streaming_input_call(request)
        .await
        .map_err(call_failed("StreamingInputCall"))?;
    let total = reply.get_ref().aggregated_payload_size;
    check(total == 73_086, || {
        format!("aggregated size {total}, expected 73086")
    })
}

fn output(sizes: &[(i32, Option<bool>)], payload: usize) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&(size, compressed)| ResponseParameters {
                size,
                interval_us: 0,
                compressed: compressed.map(|value| BoolValue { value }),
            })
            .collect(),
        payload: if payload > 0 { zeros(payload) } else { None },
        ..StreamingOutputCallRequest::default()
    }
}

async fn server_streaming(client: &TestServiceClient) -> CaseResult {
    let sizes = [31_415, 9, 2_653, 58_979];
    let request = output(&sizes.map(|s| (s, None)), 0);
    let mut replies = client
        .streaming_output_call(request)
        .await
        .map_err(call_failed("StreamingOutputCall"))?
        .into_inner();
    for size in sizes {
        let reply = replies
            .message()
            .await
            .map_err(call_failed("reading the stream"))?
            .ok_or_else(|| format!("stream ended before the response of {size} bytes"))?;
        let len = payload_len(&reply.payload);
        check(len == size as usize, || {
            format!("response of {len} bytes, expected {size}")
        })?;
    }
    match replies.message().await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err("more responses than asked for".into()),
        Err(status) => Err(format!("stream ended with {status}")),
    }
}

async fn server_compressed_streaming(client: &TestServiceClient) -> CaseResult {
    let expected = [(31_415, true), (92_653, false)];
    let request = output(&expected.map(|(s, c)| (s, Some(c))), 0);
    let mut replies = client
        .streaming_output_call(request)
        .await
        .map_err(call_failed("StreamingOutputCall"))?
        .into_inner();
    for (size, compressed) in expected {
        let reply = replies
            .message()
            .await
            .map_err(call_failed("reading the stream"))?
            .ok_or_else(|| format!("stream ended before the response of {size} bytes"))?;
        let len = payload_len(&reply.payload);
        check(len == size as usize, || {
            format!("response of {len} bytes, expected {size}")
        })?;
        check(replies.was_compressed() == compressed, || {
            format!(
                "response of {size} bytes: compressed={}, expected {compressed}",
                replies.was_compressed()
            )
        })?;
    }
    check(matches!(replies.message().await, Ok(None)), || {
        "the stream did not end cleanly".into()
    })
}

async fn ping_pong(client: &TestServiceClient) -> CaseResult {
    let (tx, requests) = feed();
    let mut replies = client
        .full_duplex_call(requests)
        .await
        .map_err(call_failed("FullDuplexCall"))?
        .into_inner();
    for (size, payload) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
        tx.send(output(&[(size, None)], payload))
            .await
            .map_err(|_| "the request stream closed early".to_string())?;
        let reply = replies
            .message()
            .await
            .map_err(call_failed("reading the stream"))?
            .ok_or_else(|| format!("stream ended before the response of {size} bytes"))?;
        let len = payload_len(&reply.payload);
        check(len == size as usize, || {
            format!("response of {len} bytes, expected {size}")
        })?;
    }
    drop(tx);
    match replies.message().await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err("more responses than requests".into()),
        Err(status) => Err(format!("stream ended with {status}")),
    }
}

async fn empty_stream(client: &TestServiceClient) -> CaseResult {
    let (tx, requests) = feed::<StreamingOutputCallRequest>();
    drop(tx);
    let mut replies = client
        .full_duplex_call(requests)
        .await
        .map_err(call_failed("FullDuplexCall"))?
        .into_inner();
    match replies.message().await {
        Ok(None) => Ok(()),
        Ok(Some(_)) => Err("a response to no request".into()),
        Err(status) => Err(format!("stream ended with {status}")),
    }
}

/// Dropping a call is how a Rust caller cancels it: Tern resets the stream with CANCEL. The
/// call is left to start (its headers reach the server) before it is dropped.
async fn cancel_after_begin(client: &TestServiceClient) -> CaseResult {
    let (tx, requests) = feed::<StreamingInputCallRequest>();
    let client = client.clone();
    let call = tokio::spawn(async move { client.streaming_input_call(requests).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    call.abort();
    let result = match call.await {
        Err(e) if e.is_cancelled() => Err(Status::cancelled("cancelled by the client")),
        Err(e) => return Err(format!("the call panicked: {e}")),
        Ok(result) => result,
    };
    drop(tx);
    expect_code(result, Code::Cancelled, None)
}

async fn cancel_after_first_response(client: &TestServiceClient) -> CaseResult {
    let (tx, requests) = feed();
    let mut replies = client
        .full_duplex_call(requests)
        .await
        .map_err(call_failed("FullDuplexCall"))?
        .into_inner();
    tx.send(output(&[(31_415, None)], 27_182))
        .await
        .map_err(|_| "the request stream closed early".to_string())?;
    let first = replies
        .message()
        .await
        .map_err(call_failed("reading the first response"))?;
    check(first.is_some(), || "no first response".into())?;
    // Cancel: dropping the response stream resets the call.
    drop(replies);
    drop(tx);
    Ok(())
}

async fn timeout_on_sleeping_server(client: &TestServiceClient) -> CaseResult {
    let (tx, requests) = feed();
    let mut request = Request::new(requests);
    request.set_timeout(Duration::from_millis(1));
    let _ = tx.send(output(&[], 27_182)).await;
    let result = match client.full_duplex_call(request).await {
        Ok(response) => response.into_inner().message().await,
        Err(status) => Err(status),
    };
    expect_code(result, Code::DeadlineExceeded, None)
}

const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";
const INITIAL_VALUE: &str = "test_initial_metadata_value";
const TRAILING_VALUE: &[u8] = &[0xab, 0xab, 0xab];

fn with_echo_metadata<T>(message: T) -> Request<T> {
    let mut request = Request::new(message);
    let md = request.metadata_mut();
    // Both keys and values are valid constants.
    let _ = md.insert(ECHO_INITIAL, INITIAL_VALUE);
    let _ = md.insert_bin(ECHO_TRAILING, TRAILING_VALUE);
    request
}

fn check_echo(initial: &tern::Metadata, trailing: Option<&tern::Metadata>) -> CaseResult {
    check(initial.get(ECHO_INITIAL) == Some(INITIAL_VALUE), || {
        format!(
            "initial metadata {ECHO_INITIAL}: {:?}",
            initial.get(ECHO_INITIAL)
        )
    })?;
    let value = trailing
        .and_then(|t| t.get_bin(ECHO_TRAILING))
        .and_then(Result::ok);
    check(value.as_deref() == Some(TRAILING_VALUE), || {
        format!("trailing metadata {ECHO_TRAILING}: {value:?}")
    })
}

async fn custom_metadata(client: &TestServiceClient) -> CaseResult {
    let reply = client
        .unary_call(with_echo_metadata(large_request()))
        .await
        .map_err(call_failed("UnaryCall"))?;
    check_echo(reply.metadata(), Some(reply.trailers())).map_err(|e| format!("UnaryCall: {e}"))?;

    let (tx, requests) = feed();
    let mut replies = client
        .full_duplex_call(with_echo_metadata(requests))
        .await
        .map_err(call_failed("FullDuplexCall"))?
        .into_inner();
    let _ = tx.send(output(&[(314_159, None)], 271_828)).await;
    drop(tx);
    while replies
        .message()
        .await
        .map_err(call_failed("reading the stream"))?
        .is_some()
    {}
    let initial = replies.headers().cloned().unwrap_or_default();
    check_echo(&initial, replies.trailers()).map_err(|e| format!("FullDuplexCall: {e}"))
}

async fn status_with(client: &TestServiceClient, message: &str) -> CaseResult {
    let status = EchoStatus {
        code: 2,
        message: message.into(),
    };
    let request = SimpleRequest {
        response_status: Some(status.clone()),
        ..SimpleRequest::default()
    };
    expect_code(
        client.unary_call(request).await,
        Code::Unknown,
        Some(message),
    )
    .map_err(|e| format!("UnaryCall: {e}"))?;

    let (tx, requests) = feed();
    let _ = tx
        .send(StreamingOutputCallRequest {
            response_status: Some(status),
            ..StreamingOutputCallRequest::default()
        })
        .await;
    drop(tx);
    let result = match client.full_duplex_call(requests).await {
        Ok(response) => response.into_inner().message().await,
        Err(status) => Err(status),
    };
    expect_code(result, Code::Unknown, Some(message)).map_err(|e| format!("FullDuplexCall: {e}"))
}

async fn status_code_and_message(client: &TestServiceClient) -> CaseResult {
    status_with(client, "test status message").await
}

async fn special_status_message(client: &TestServiceClient) -> CaseResult {
    let message = "\t\ntest with whitespace\r\nand Unicode BMP \u{263a} and non-BMP \u{1f608}\t\n";
    let status = EchoStatus {
        code: 2,
        message: message.into(),
    };
    let request = SimpleRequest {
        response_status: Some(status),
        ..SimpleRequest::default()
    };
    expect_code(
        client.unary_call(request).await,
        Code::Unknown,
        Some(message),
    )
}

async fn unimplemented_method(client: &TestServiceClient) -> CaseResult {
    expect_code(
        client.unimplemented_call(Empty {}).await,
        Code::Unimplemented,
        None,
    )
}

async fn unimplemented_service(channel: Channel) -> CaseResult {
    let client = UnimplementedServiceClient::new(channel);
    expect_code(
        client.unimplemented_call(Empty {}).await,
        Code::Unimplemented,
        None,
    )
}

async fn rpc_soak(client: &TestServiceClient, iterations: u32) -> CaseResult {
    for i in 0..iterations {
        large_unary(client)
            .await
            .map_err(|e| format!("iteration {i}: {e}"))?;
    }
    Ok(())
}

async fn channel_soak(connector: &Connector, iterations: u32) -> CaseResult {
    for i in 0..iterations {
        // A new channel, so a new connection, for every call.
        let fresh = connector
            .connect()
            .await
            .map_err(|e| format!("iteration {i}: {e}"))?;
        large_unary(&TestServiceClient::new(fresh))
            .await
            .map_err(|e| format!("iteration {i}: {e}"))?;
    }
    Ok(())
}
