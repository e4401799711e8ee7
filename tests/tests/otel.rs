//! gRFC A66 metrics from Tern's interceptors, read back from the OpenTelemetry SDK's in-memory
//! exporter: counts per method and status match the calls made, unknown methods are `other`,
//! durations are there with A66's buckets, and the sizes equal the messages' bytes on the wire.
//! (`examples/hello/tests/otlp.rs` sends them to a real OTLP receiver.)

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, SdkMeterProvider};
use tern::codegen::prost::Message as _;
use tern::memory::MemoryListener;
use tern::otel::{ClientMetrics, ServerMetrics, LATENCY_BUCKETS, SIZE_BUCKETS};
use tern::{Code, Request};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::{CountRequest, EchoReply, EchoRequest};
use tern_tests::ProbeService;

/// One data point's attributes as (key, value) strings, sorted.
fn attributes<'a>(attributes: impl Iterator<Item = &'a KeyValue>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = attributes
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect();
    out.sort();
    out
}

fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    out.sort();
    out
}

/// A point of an instrument: (attributes, count or value, sum, bucket bounds).
type Point = (Vec<(String, String)>, u64, f64, Vec<f64>);

/// Every point of the instrument `name`, with its unit.
fn points(metrics: &ResourceMetrics, name: &str) -> (String, Vec<Point>) {
    for scope in metrics.scope_metrics() {
        for metric in scope.metrics() {
            if metric.name() != name {
                continue;
            }
            let points = match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => sum
                    .data_points()
                    .map(|p| (attributes(p.attributes()), p.value(), 0.0, Vec::new()))
                    .collect(),
                AggregatedMetrics::U64(MetricData::Histogram(h)) => h
                    .data_points()
                    .map(|p| {
                        (
                            attributes(p.attributes()),
                            p.count(),
                            p.sum() as f64,
                            p.bounds().collect(),
                        )
                    })
                    .collect(),
                AggregatedMetrics::F64(MetricData::Histogram(h)) => h
                    .data_points()
                    .map(|p| {
                        (
                            attributes(p.attributes()),
                            p.count(),
                            p.sum(),
                            p.bounds().collect(),
                        )
                    })
                    .collect(),
                other => panic!("{name}: unexpected data {other:?}"),
            };
            return (metric.unit().to_owned(), points);
        }
    }
    panic!("no instrument {name}");
}

fn point<'a>(points: &'a [Point], wanted: &[(&str, &str)]) -> &'a Point {
    let wanted = attrs(wanted);
    points
        .iter()
        .find(|p| p.0 == wanted)
        .unwrap_or_else(|| panic!("no point {wanted:?} in {points:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a66_metrics_match_the_calls_made() {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter.clone())
        .build();
    let meter = provider.meter("tern-test");

    let listener = MemoryListener::new();
    let connector = listener.connector();
    tokio::spawn(
        tern::Server::builder()
            .intercept(ServerMetrics::new(&meter))
            .add_service(ProbeServer::new(ProbeService))
            .serve_memory(listener, std::future::pending()),
    );
    let channel = connector
        .channel_builder()
        .unwrap()
        .intercept(ClientMetrics::new(&meter))
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel.clone());

    let request = EchoRequest {
        message: "metered".into(),
        payload: vec![1; 3000],
        ..Default::default()
    };
    let reply = EchoReply {
        message: "metered".into(),
        payload: vec![1; 3000],
        ..Default::default()
    };
    for _ in 0..3 {
        assert_eq!(
            client.echo(request.clone()).await.unwrap().into_inner(),
            reply
        );
    }
    let failing = EchoRequest {
        fail_code: Code::NotFound as i32,
        fail_message: "nope".into(),
        ..Default::default()
    };
    assert_eq!(
        client.echo(failing.clone()).await.unwrap_err().code(),
        Code::NotFound
    );
    let mut counted = client
        .count(CountRequest {
            count: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    while counted.message().await.unwrap().is_some() {}
    let status = tern::codegen::Client::new(channel)
        .unary(
            tern::codegen::PathAndQuery::from_static("/tern.probe.Probe/NoSuchMethod"),
            Request::new(request.clone()),
            tern::codegen::ProstCodec::<EchoRequest, EchoReply>::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status}");

    // The server's observers record when they send the status, before the client has it; the
    // client's when it has it. So everything is recorded now.
    let flushed = tokio::task::spawn_blocking(move || {
        provider.force_flush().unwrap();
        provider
    })
    .await
    .unwrap();
    let exported = exporter.get_finished_metrics().unwrap();
    let metrics = exported.last().expect("an export");

    const ECHO: &str = "tern.probe.Probe/Echo";
    const COUNT: &str = "tern.probe.Probe/Count";
    let (unit, started) = points(metrics, "grpc.server.call.started");
    assert_eq!(unit, "{call}");
    assert_eq!(point(&started, &[("grpc.method", ECHO)]).1, 4);
    assert_eq!(point(&started, &[("grpc.method", COUNT)]).1, 1);
    assert_eq!(point(&started, &[("grpc.method", "other")]).1, 1);
    assert_eq!(started.len(), 3, "{started:?}");

    let (unit, duration) = points(metrics, "grpc.server.call.duration");
    assert_eq!(unit, "s");
    let ok = point(&duration, &[("grpc.method", ECHO), ("grpc.status", "OK")]);
    assert_eq!(ok.1, 3);
    assert!(ok.2 > 0.0, "durations are recorded");
    assert_eq!(ok.3, LATENCY_BUCKETS.to_vec());
    let not_found = [("grpc.method", ECHO), ("grpc.status", "NOT_FOUND")];
    assert_eq!(point(&duration, &not_found).1, 1);
    let unknown = [("grpc.method", "other"), ("grpc.status", "UNIMPLEMENTED")];
    assert_eq!(point(&duration, &unknown).1, 1);

    // Sizes: the messages' encoded bytes, exactly.
    let (unit, received) = points(
        metrics,
        "grpc.server.call.rcvd_total_compressed_message_size",
    );
    assert_eq!(unit, "By");
    let echo_ok = [("grpc.method", ECHO), ("grpc.status", "OK")];
    let got = point(&received, &echo_ok);
    assert_eq!((got.1, got.2), (3, 3.0 * request.encoded_len() as f64));
    assert_eq!(got.3, SIZE_BUCKETS.to_vec());
    let (_, sent) = points(
        metrics,
        "grpc.server.call.sent_total_compressed_message_size",
    );
    let got = point(&sent, &echo_ok);
    assert_eq!(got.2, 3.0 * reply.encoded_len() as f64);
    let count_ok = [("grpc.method", COUNT), ("grpc.status", "OK")];
    let replies: usize = (0..3)
        .map(|n| {
            EchoReply {
                message: n.to_string(),
                ..Default::default()
            }
            .encoded_len()
        })
        .sum();
    assert_eq!(point(&sent, &count_ok).2, replies as f64);
    // A call refused as unknown received its message's bytes? No: it was refused before any
    // was read.
    assert_eq!(point(&received, &unknown).2, 0.0);

    // The client's side of the same calls.
    let target = "http://in-memory";
    let (unit, attempts) = points(metrics, "grpc.client.attempt.started");
    assert_eq!(unit, "{attempt}");
    let echo_attempts = [("grpc.method", ECHO), ("grpc.target", target)];
    assert_eq!(point(&attempts, &echo_attempts).1, 4);
    let client_ok = [
        ("grpc.method", ECHO),
        ("grpc.target", target),
        ("grpc.status", "OK"),
    ];
    let (_, call_duration) = points(metrics, "grpc.client.call.duration");
    assert_eq!(point(&call_duration, &client_ok).1, 3);
    let (_, attempt_duration) = points(metrics, "grpc.client.attempt.duration");
    assert_eq!(point(&attempt_duration, &client_ok).1, 3);
    let (_, client_sent) = points(
        metrics,
        "grpc.client.attempt.sent_total_compressed_message_size",
    );
    assert_eq!(
        point(&client_sent, &client_ok).2,
        3.0 * request.encoded_len() as f64
    );
    let (_, client_received) = points(
        metrics,
        "grpc.client.attempt.rcvd_total_compressed_message_size",
    );
    assert_eq!(
        point(&client_received, &client_ok).2,
        3.0 * reply.encoded_len() as f64
    );
    let client_unknown = [
        ("grpc.method", "tern.probe.Probe/NoSuchMethod"),
        ("grpc.target", target),
        ("grpc.status", "UNIMPLEMENTED"),
    ];
    assert_eq!(point(&call_duration, &client_unknown).1, 1);
    drop(flushed);
}
