//! OpenTelemetry tracing across three hops: a client calls server A, whose handler calls server
//! B with the context its request carried. The spans, read back from the SDK's in-memory
//! exporter, form one trace — client → A (server) → A (client) → B (server) — linked by the
//! W3C `traceparent` each hop sent, with gRPC's attributes and status on each.

use futures_core::Stream;
use opentelemetry::trace::{SpanKind, Status as SpanStatus, TracerProvider as _};
use opentelemetry::Context;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tern::interceptor::from_fn;
use tern::memory::{MemoryConnector, MemoryListener};
use tern::otel::{ClientTracing, ServerTracing};
use tern::{Code, Request, Response, Status, Streaming};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::{Probe, ProbeServer};
use tern_tests::probe::{CountRequest, EchoReply, EchoRequest, Number};
use tern_tests::ProbeService;

/// Server A: echo asks server B, continuing the caller's trace.
struct Relay {
    next: ProbeClient,
}

impl Probe for Relay {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let context = request.extensions().get::<Context>().cloned();
        let mut onward = Request::new(request.into_inner());
        if let Some(context) = context {
            onward.extensions_mut().insert(context);
        }
        let reply = self.next.echo(onward).await?;
        Ok(Response::new(reply.into_inner()))
    }

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        ProbeService.count(request).await
    }

    async fn sum(&self, request: Request<Streaming<Number>>) -> Result<Response<Number>, Status> {
        ProbeService.sum(request).await
    }

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        ProbeService.chat(request).await
    }
}

fn serve<R: tern::server::Routes>(router: tern::server::Router<R>) -> MemoryConnector {
    let listener = MemoryListener::new();
    let connector = listener.connector();
    tokio::spawn(router.serve_memory(listener, std::future::pending()));
    connector
}

fn find<'a>(spans: &'a [SpanData], kind: SpanKind, service: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| {
            s.span_kind == kind
                && s.instrumentation_scope
                    .attributes()
                    .any(|kv| kv.key.as_str() == "tern.hop" && kv.value.as_str() == service)
        })
        .unwrap_or_else(|| panic!("no {kind:?} span of {service} in {spans:#?}"))
}

fn attribute(span: &SpanData, key: &str) -> String {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_crosses_three_hops() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    // Each hop tags its spans, so the test can tell them apart.
    let tracer = |hop: &'static str| {
        provider.tracer_with_scope(
            opentelemetry::InstrumentationScope::builder("tern-test")
                .with_attributes([opentelemetry::KeyValue::new("tern.hop", hop)])
                .build(),
        )
    };
    // Server B also records the traceparent it received, to check the wire format.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let b = serve(
        tern::Server::builder()
            .intercept({
                let seen = seen.clone();
                from_fn(move |call| {
                    *seen.lock().unwrap() = call.metadata().get("traceparent").unwrap_or("").into();
                    Ok(())
                })
            })
            .intercept(ServerTracing::new(tracer("b")))
            .add_service(ProbeServer::new(ProbeService)),
    );
    let to_b = b
        .channel_builder()
        .unwrap()
        .intercept(ClientTracing::new(tracer("a")))
        .connect()
        .await
        .unwrap();
    let a = serve(
        tern::Server::builder()
            .intercept(ServerTracing::new(tracer("a")))
            .add_service(ProbeServer::new(Relay {
                next: ProbeClient::new(to_b),
            })),
    );
    let client = ProbeClient::new(
        a.channel_builder()
            .unwrap()
            .intercept(ClientTracing::new(tracer("client")))
            .connect()
            .await
            .unwrap(),
    );
    let reply = client
        .echo(EchoRequest {
            message: "traced".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(reply.get_ref().message, "traced");
    // A failure, for the status on the spans.
    let status = client
        .echo(EchoRequest {
            fail_code: Code::Internal as i32,
            fail_message: "broken".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Internal);

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    let trace = spans[..]
        .iter()
        .find(|s| s.name == "tern.probe.Probe/Echo")
        .map(|s| s.span_context.trace_id());
    let trace = trace.expect("spans");
    let first: Vec<SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .cloned()
        .collect();
    assert_eq!(first.len(), 4, "{first:#?}");

    let client_span = find(&first, SpanKind::Client, "client");
    let a_server = find(&first, SpanKind::Server, "a");
    let a_client = find(&first, SpanKind::Client, "a");
    let b_server = find(&first, SpanKind::Server, "b");
    assert_eq!(a_server.parent_span_id, client_span.span_context.span_id());
    assert!(a_server.parent_span_is_remote);
    assert_eq!(a_client.parent_span_id, a_server.span_context.span_id());
    assert!(!a_client.parent_span_is_remote);
    assert_eq!(b_server.parent_span_id, a_client.span_context.span_id());
    for span in [client_span, a_server, a_client, b_server] {
        assert_eq!(attribute(span, "rpc.system"), "grpc");
        assert_eq!(attribute(span, "rpc.service"), "tern.probe.Probe");
        assert_eq!(attribute(span, "rpc.method"), "Echo");
        assert_eq!(attribute(span, "rpc.grpc.status_code"), "0");
        assert_eq!(span.status, SpanStatus::Unset);
    }
    // The second call failed INTERNAL: an error on each of its spans.
    let failed: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.span_context.trace_id() != trace)
        .collect();
    assert_eq!(failed.len(), 4, "{failed:#?}");
    for span in failed {
        assert_eq!(attribute(span, "rpc.grpc.status_code"), "13");
        assert!(matches!(span.status, SpanStatus::Error { .. }), "{span:?}");
    }
    // W3C traceparent: version 00, the trace id, B's parent (A's client span), sampled.
    let traceparent = seen.lock().unwrap().clone();
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "{traceparent}");
    assert_eq!(fields[0], "00");
    assert_eq!(fields[1].len(), 32);
    assert_eq!(fields[2].len(), 16);
    assert_eq!(fields[3], "01");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_started_by_a_grpcio_client_continues_in_the_tern_server_span() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .intercept(ServerTracing::new(provider.tracer("tern-test")))
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending()),
    );
    let output = tokio::process::Command::new(tern_tests::python())
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/py/traced_client.py"))
        .arg("--target")
        .arg(addr.to_string())
        .output()
        .await
        .expect("run the grpcio client");
    assert!(output.status.success(), "{output:?}");
    let sent = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let fields: Vec<&str> = sent.split('-').collect();
    assert_eq!(fields.len(), 4, "{sent}");

    provider.force_flush().unwrap();
    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(span.name, "tern.probe.Probe/Echo");
    assert_eq!(span.span_context.trace_id().to_string(), fields[1]);
    assert_eq!(span.parent_span_id.to_string(), fields[2]);
    assert!(span.parent_span_is_remote);
    assert!(span.span_context.is_sampled());
}
