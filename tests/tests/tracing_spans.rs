//! `TraceCalls`: a `tracing` span per call on each side with the RPC fields and the final
//! status, and on the server the handler's events inside it. Recorded by a minimal subscriber
//! written here (the project has no tracing-subscriber dependency).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tern::interceptor::builtin::TraceCalls;
use tern::memory::MemoryListener;
use tern::Code;
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::EchoRequest;
use tern_tests::ProbeService;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Each span's fields by id, and each event's message with the span it happened in.
#[derive(Default)]
struct Recorded {
    spans: HashMap<u64, HashMap<String, String>>,
    events: Vec<(String, Option<u64>)>,
}

#[derive(Clone, Default)]
struct Collector {
    recorded: Arc<Mutex<Recorded>>,
    next: Arc<AtomicU64>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_owned(),
            format!("{value:?}").trim_matches('"').to_owned(),
        );
    }
}

thread_local! {
    static CURRENT: std::cell::RefCell<Vec<u64>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Subscriber for Collector {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = HashMap::new();
        fields.insert("name".to_owned(), span.metadata().name().to_owned());
        span.record(&mut Fields(&mut fields));
        self.recorded.lock().unwrap().spans.insert(id, fields);
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut recorded = self.recorded.lock().unwrap();
        if let Some(fields) = recorded.spans.get_mut(&span.into_u64()) {
            values.record(&mut Fields(fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let message = fields.remove("message").unwrap_or_default();
        let current = CURRENT.with(|c| c.borrow().last().copied());
        self.recorded
            .lock()
            .unwrap()
            .events
            .push((message, current));
    }

    fn enter(&self, span: &Id) {
        CURRENT.with(|c| c.borrow_mut().push(span.into_u64()));
    }

    fn exit(&self, _: &Id) {
        CURRENT.with(|c| {
            c.borrow_mut().pop();
        });
    }
}

/// The probe's echo, logging from inside the handler.
struct Logging;

impl tern_tests::probe::probe_server::Probe for Logging {
    async fn echo(
        &self,
        request: tern::Request<EchoRequest>,
    ) -> Result<tern::Response<tern_tests::probe::EchoReply>, tern::Status> {
        tracing::info!("inside the handler");
        ProbeService.echo(request).await
    }

    async fn count(
        &self,
        request: tern::Request<tern_tests::probe::CountRequest>,
    ) -> Result<
        tern::Response<
            impl futures_core::Stream<Item = Result<tern_tests::probe::EchoReply, tern::Status>> + Send,
        >,
        tern::Status,
    > {
        ProbeService.count(request).await
    }

    async fn sum(
        &self,
        request: tern::Request<tern::Streaming<tern_tests::probe::Number>>,
    ) -> Result<tern::Response<tern_tests::probe::Number>, tern::Status> {
        ProbeService.sum(request).await
    }

    async fn chat(
        &self,
        request: tern::Request<tern::Streaming<EchoRequest>>,
    ) -> Result<
        tern::Response<
            impl futures_core::Stream<Item = Result<tern_tests::probe::EchoReply, tern::Status>> + Send,
        >,
        tern::Status,
    > {
        ProbeService.chat(request).await
    }
}

#[test]
fn each_call_gets_a_span_with_its_status_and_the_handler_runs_in_it() {
    let collector = Collector::default();
    let recorded = collector.recorded.clone();
    tracing::subscriber::with_default(collector, || {
        // One thread, so that every task sees this test's subscriber.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = MemoryListener::new();
            let connector = listener.connector();
            tokio::spawn(
                tern::Server::builder()
                    .intercept(TraceCalls::new())
                    .add_service(ProbeServer::new(Logging))
                    .serve_memory(listener, std::future::pending()),
            );
            let channel = connector
                .channel_builder()
                .unwrap()
                .intercept(TraceCalls::new())
                .connect()
                .await
                .unwrap();
            let client = ProbeClient::new(channel);
            client
                .echo(EchoRequest {
                    message: "spanned".into(),
                    ..Default::default()
                })
                .await
                .unwrap();
            let status = client
                .echo(EchoRequest {
                    fail_code: Code::NotFound as i32,
                    fail_message: "missing".into(),
                    ..Default::default()
                })
                .await
                .unwrap_err();
            assert_eq!(status.code(), Code::NotFound);
        });
    });

    let recorded = recorded.lock().unwrap();
    let grpc: Vec<(&u64, &HashMap<String, String>)> = recorded
        .spans
        .iter()
        .filter(|(_, f)| f.get("name").map(String::as_str) == Some("grpc"))
        .collect();
    let of = |kind: &str, code: &str| {
        grpc.iter()
            .filter(|(_, f)| {
                f.get("otel.kind").map(String::as_str) == Some(kind)
                    && f.get("rpc.grpc.status_code").map(String::as_str) == Some(code)
            })
            .count()
    };
    assert_eq!(of("server", "0"), 1, "{grpc:#?}");
    assert_eq!(of("client", "0"), 1, "{grpc:#?}");
    assert_eq!(of("server", "5"), 1, "{grpc:#?}");
    assert_eq!(of("client", "5"), 1, "{grpc:#?}");
    for (_, fields) in &grpc {
        assert_eq!(fields["rpc.system"], "grpc");
        assert_eq!(fields["rpc.service"], "tern.probe.Probe");
        assert_eq!(fields["rpc.method"], "Echo");
        if fields["rpc.grpc.status_code"] == "5" {
            assert_eq!(fields["otel.status_code"], "ERROR");
            assert_eq!(fields["error.message"], "missing");
        }
    }
    // The handler's events happened inside server spans.
    let inside: Vec<&Option<u64>> = recorded
        .events
        .iter()
        .filter(|(m, _)| m == "inside the handler")
        .map(|(_, span)| span)
        .collect();
    assert_eq!(inside.len(), 2);
    for span in inside {
        let fields = &recorded.spans[&span.expect("inside a span")];
        assert_eq!(fields["name"], "grpc");
        assert_eq!(fields["otel.kind"], "server");
    }
}
