//! The `grpc.testing.TestService` server, as the interop test descriptions define its behaviour:
//! payloads of the requested sizes, statuses on request, echoed metadata, compression on request
//! and checks that compressed requests really came compressed.

use std::time::Duration;

use futures_core::Stream;
use tern::{Code, CompressionEncoding, CompressionSwitch, Request, Response, Status, Streaming};

use crate::pb::test_service_server::TestService;
use crate::pb::{
    BoolValue, EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};

const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

/// The interop TestService.
#[derive(Debug, Default)]
pub struct InteropServer;

fn payload(size: i32) -> Result<Option<Payload>, Status> {
    let size = usize::try_from(size)
        .map_err(|_| Status::invalid_argument(format!("negative payload size {size}")))?;
    Ok(Some(Payload {
        r#type: 0,
        body: vec![0; size],
    }))
}

fn requested_status(status: Option<&EchoStatus>) -> Result<(), Status> {
    match status {
        Some(s) if s.code != 0 => Err(Status::new(Code::from_i32(s.code), s.message.clone())),
        _ => Ok(()),
    }
}

/// The spec's compression check: a request that says it expects to have been compressed must
/// have been, and one that says it was not must not have been.
fn check_compression(expect: Option<&BoolValue>, was_compressed: bool) -> Result<(), Status> {
    match expect {
        Some(BoolValue { value: true }) if !was_compressed => Err(Status::invalid_argument(
            "expected a compressed request, got an uncompressed one",
        )),
        Some(BoolValue { value: false }) if was_compressed => Err(Status::invalid_argument(
            "expected an uncompressed request, got a compressed one",
        )),
        _ => Ok(()),
    }
}

/// Copies the echo headers of the request into the response's metadata and trailers.
fn echo_metadata<T, U>(request: &Request<T>, response: &mut Response<U>) {
    let md = request.metadata();
    if let Some(value) = md.get(ECHO_INITIAL) {
        let _ = response.metadata_mut().insert(ECHO_INITIAL, value);
    }
    if let Some(Ok(value)) = md.get_bin(ECHO_TRAILING) {
        let _ = response.trailers_mut().insert_bin(ECHO_TRAILING, &value);
    }
}

/// The status to fail with, carrying the echoed trailing metadata as well.
fn fail_with_echo<T>(request: &Request<T>, mut status: Status) -> Status {
    if let Some(Ok(value)) = request.metadata().get_bin(ECHO_TRAILING) {
        let _ = status.metadata_mut().insert_bin(ECHO_TRAILING, &value);
    }
    status
}

/// A response message and whether it asked to be compressed.
type Outgoing = Result<(StreamingOutputCallResponse, bool), Status>;
type Sender = tokio::sync::mpsc::Sender<Outgoing>;

/// Answers streaming requests as their parameters ask, through a channel, so that the response
/// stream can pause between messages; false once the stream has ended.
async fn respond_to(requests: Vec<StreamingOutputCallRequest>, tx: &Sender) -> bool {
    for request in requests {
        if let Err(status) = requested_status(request.response_status.as_ref()) {
            let _ = tx.send(Err(status)).await;
            return false;
        }
        if !send_responses(&request.response_parameters, tx).await {
            return false;
        }
    }
    true
}

async fn send_responses(parameters: &[ResponseParameters], tx: &Sender) -> bool {
    for p in parameters {
        if p.interval_us > 0 {
            tokio::time::sleep(Duration::from_micros(p.interval_us.unsigned_abs().into())).await;
        }
        let compressed = p.compressed.as_ref().is_some_and(|c| c.value);
        let message =
            payload(p.size).map(|payload| (StreamingOutputCallResponse { payload }, compressed));
        let failed = message.is_err();
        if tx.send(message).await.is_err() || failed {
            return false;
        }
    }
    true
}

/// The response stream: sets the compression switch for each message as it hands it over, so
/// the runtime, which encodes each message as soon as it has it, applies the right setting.
struct Responses {
    rx: tokio::sync::mpsc::Receiver<Outgoing>,
    switch: CompressionSwitch,
}

impl Stream for Responses {
    type Item = Result<StreamingOutputCallResponse, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|next| {
            next.map(|item| {
                item.map(|(message, compressed)| {
                    self.switch.set(compressed);
                    message
                })
            })
        })
    }
}

/// A response stream whose messages are gzip-compressed when they ask to be.
fn compressible_stream() -> (Sender, Response<Responses>) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let switch = CompressionSwitch::new(false);
    let mut response = Response::new(Responses {
        rx,
        switch: switch.clone(),
    });
    response.set_send_compression(CompressionEncoding::Gzip);
    response.set_compression_switch(switch);
    (tx, response)
}

impl TestService for InteropServer {
    async fn empty_call(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        Ok(Response::new(Empty {}))
    }

    async fn unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        let message = request.get_ref();
        check_compression(message.expect_compressed.as_ref(), request.was_compressed())?;
        requested_status(message.response_status.as_ref())
            .map_err(|status| fail_with_echo(&request, status))?;
        let mut response = Response::new(SimpleResponse {
            payload: payload(message.response_size)?,
            ..SimpleResponse::default()
        });
        if message.fill_username || message.fill_oauth_scope {
            let (username, scope) = crate::auth::token_identity(&request)?;
            let reply = response.get_mut();
            if message.fill_username {
                reply.username = username;
            }
            if message.fill_oauth_scope {
                reply.oauth_scope = scope;
            }
        }
        if message
            .response_compressed
            .as_ref()
            .is_some_and(|c| c.value)
        {
            response.set_send_compression(CompressionEncoding::Gzip);
        }
        echo_metadata(&request, &mut response);
        Ok(response)
    }

    async fn cacheable_unary_call(
        &self,
        request: Request<SimpleRequest>,
    ) -> Result<Response<SimpleResponse>, Status> {
        self.unary_call(request).await
    }

    async fn streaming_output_call(
        &self,
        request: Request<StreamingOutputCallRequest>,
    ) -> Result<
        Response<impl Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send>,
        Status,
    > {
        let (tx, response) = compressible_stream();
        let request = request.into_inner();
        tokio::spawn(async move { respond_to(vec![request], &tx).await });
        Ok(response)
    }

    async fn streaming_input_call(
        &self,
        request: Request<Streaming<StreamingInputCallRequest>>,
    ) -> Result<Response<StreamingInputCallResponse>, Status> {
        let mut requests = request.into_inner();
        let mut total = 0usize;
        while let Some(message) = requests.message().await? {
            check_compression(
                message.expect_compressed.as_ref(),
                requests.was_compressed(),
            )?;
            total += message.payload.map_or(0, |p| p.body.len());
        }
        let aggregated_payload_size = i32::try_from(total)
            .map_err(|_| Status::out_of_range("aggregated payload size over 2 GiB"))?;
        Ok(Response::new(StreamingInputCallResponse {
            aggregated_payload_size,
        }))
    }

    async fn full_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<
        Response<impl Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send>,
        Status,
    > {
        let (tx, mut response) = compressible_stream();
        echo_metadata(&request, &mut response);
        let mut requests = request.into_inner();
        tokio::spawn(async move {
            loop {
                match requests.message().await {
                    Ok(Some(message)) => {
                        if !respond_to(vec![message], &tx).await {
                            return;
                        }
                    }
                    Ok(None) => return,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        return;
                    }
                }
            }
        });
        Ok(response)
    }

    async fn half_duplex_call(
        &self,
        request: Request<Streaming<StreamingOutputCallRequest>>,
    ) -> Result<
        Response<impl Stream<Item = Result<StreamingOutputCallResponse, Status>> + Send>,
        Status,
    > {
        let mut requests = request.into_inner();
        let mut all = Vec::new();
        while let Some(message) = requests.message().await? {
            all.push(message);
        }
        let (tx, response) = compressible_stream();
        tokio::spawn(async move { respond_to(all, &tx).await });
        Ok(response)
    }

    async fn unimplemented_call(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Empty>, Status> {
        Err(Status::unimplemented(
            "UnimplementedCall is not implemented, on purpose",
        ))
    }
}
