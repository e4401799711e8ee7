//! OpenTelemetry for gRPC calls (cargo feature `otel`). Metrics as gRFC A66 defines them:
//! [`ServerMetrics`] and [`ClientMetrics`] are interceptors that record A66's instruments with
//! their exact names, units, attributes and bucket boundaries; [`OtlpExporter`] sends them to an
//! OTLP collector over Tern's own client; [`from_env`] sets both up from the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT`, as `hello-server` and `hello-client` do. Traces:
//! [`ServerTracing`] and [`ClientTracing`] make a span per call and carry W3C trace context
//! (`traceparent`) in metadata, so a trace crosses processes and other gRPC implementations.
//!
//! ```no_run
//! # async fn f<S: tern::server::Service>(service: S) -> Result<(), tern::Error> {
//! use opentelemetry::metrics::MeterProvider as _;
//! let provider = tern::otel::from_env("my-server").unwrap_or_default();
//! tern::Server::builder()
//!     // First, so that it counts the calls later interceptors refuse.
//!     .intercept(tern::otel::ServerMetrics::new(&provider.meter("tern")))
//!     .add_service(service)
//!     .serve_with_signals("0.0.0.0:5000".parse().unwrap())
//!     .await?;
//! let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await; // the last export
//! # Ok(()) }
//! ```
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `grpc.server.call.started` | `{call}` | `grpc.method` |
//! | `grpc.server.call.sent_total_compressed_message_size` | `By` | `grpc.method`, `grpc.status` |
//! | `grpc.server.call.rcvd_total_compressed_message_size` | `By` | `grpc.method`, `grpc.status` |
//! | `grpc.server.call.duration` | `s` | `grpc.method`, `grpc.status` |
//! | `grpc.client.attempt.started` | `{attempt}` | `grpc.method`, `grpc.target` |
//! | `grpc.client.attempt.duration` | `s` | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.attempt.sent_total_compressed_message_size` | `By` | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.attempt.rcvd_total_compressed_message_size` | `By` | `grpc.method`, `grpc.target`, `grpc.status` |
//! | `grpc.client.call.duration` | `s` | `grpc.method`, `grpc.target`, `grpc.status` |
//!
//! A server records a method it does not have as `other`, so that a scanner calling random
//! names cannot grow the metrics without bound. Sizes are the messages' bytes on the wire
//! (compressed when they were), without gRPC's 5-byte prefixes. Tern's channel makes one attempt
//! per call today, so attempt and call durations agree until retries land.

mod otlp;
mod trace;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use opentelemetry::metrics::{Counter, Histogram, Meter};
use opentelemetry::{KeyValue, StringValue, Value};

pub use otlp::{from_env, OtlpExporter};
pub use trace::{ClientTracing, EndSpan, ServerTracing};
/// The OpenTelemetry API and SDK this module is built on, for making meters and providers of
/// the same versions.
pub use {opentelemetry, opentelemetry_sdk};

use crate::interceptor::{
    CallObserver, ClientInterceptor, IncomingCall, Message, OutgoingCall, ServerInterceptor,
};
use crate::metadata::Metadata;
use crate::status::Status;

/// A66's bucket boundaries for latencies, in seconds.
pub const LATENCY_BUCKETS: [f64; 41] = [
    0.0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005,
    0.006, 0.008, 0.01, 0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16,
    0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0,
];

/// A66's bucket boundaries for message sizes, in bytes (0 to 4 GiB, by factors of 4).
pub const SIZE_BUCKETS: [f64; 14] = [
    0.0,
    1024.0,
    2048.0,
    4096.0,
    16384.0,
    65536.0,
    262144.0,
    1048576.0,
    4194304.0,
    16777216.0,
    67108864.0,
    268435456.0,
    1073741824.0,
    4294967296.0,
];

fn duration_histogram(
    meter: &Meter,
    name: &'static str,
    description: &'static str,
) -> Histogram<f64> {
    meter
        .f64_histogram(name)
        .with_unit("s")
        .with_description(description)
        .with_boundaries(LATENCY_BUCKETS.to_vec())
        .build()
}

fn size_histogram(meter: &Meter, name: &'static str, description: &'static str) -> Histogram<u64> {
    meter
        .u64_histogram(name)
        .with_unit("By")
        .with_description(description)
        .with_boundaries(SIZE_BUCKETS.to_vec())
        .build()
}

/// Records gRFC A66's server instruments for every call; add it to a server before the other
/// interceptors, so that it sees the calls they refuse.
#[derive(Clone, Debug)]
pub struct ServerMetrics(Arc<ServerInstruments>);

#[derive(Debug)]
struct ServerInstruments {
    /// Each method's `grpc.method` attribute, made once: a call then clones an `Arc`.
    methods: AttributeCache,
    started: Counter<u64>,
    duration: Histogram<f64>,
    sent: Histogram<u64>,
    received: Histogram<u64>,
}

impl ServerMetrics {
    /// The instruments, made on `meter`.
    pub fn new(meter: &Meter) -> ServerMetrics {
        ServerMetrics(Arc::new(ServerInstruments {
            methods: AttributeCache::default(),
            started: meter
                .u64_counter("grpc.server.call.started")
                .with_unit("{call}")
                .with_description("Number of server calls started.")
                .build(),
            duration: duration_histogram(
                meter,
                "grpc.server.call.duration",
                "Time from the server receiving the request headers to its sending the status.",
            ),
            sent: size_histogram(
                meter,
                "grpc.server.call.sent_total_compressed_message_size",
                "Bytes of the response messages of a call, compressed, without framing.",
            ),
            received: size_histogram(
                meter,
                "grpc.server.call.rcvd_total_compressed_message_size",
                "Bytes of the request messages of a call, compressed, without framing.",
            ),
        }))
    }
}

/// One call's measurements, recorded when it ends.
#[derive(Debug)]
pub struct CallMetrics {
    started: Instant,
    method: KeyValue,
    target: Option<KeyValue>,
    /// Bytes of requests and of responses, on the wire.
    requests: u64,
    responses: u64,
    instruments: Instruments,
}

#[derive(Debug)]
enum Instruments {
    Server(Arc<ServerInstruments>),
    Client(Arc<ClientInstruments>),
}

impl CallObserver for CallMetrics {
    fn on_request(&mut self, message: &Message<'_>) {
        self.requests += message.wire_size() as u64;
    }

    fn on_response(&mut self, message: &Message<'_>) {
        self.responses += message.wire_size() as u64;
    }

    fn on_finish(&mut self, status: &Status, _trailers: &mut Metadata) {
        let elapsed = self.started.elapsed().as_secs_f64();
        let status = KeyValue::new("grpc.status", status.code().name());
        match &self.instruments {
            Instruments::Server(m) => {
                let attributes = [self.method.clone(), status];
                m.duration.record(elapsed, &attributes);
                m.sent.record(self.responses, &attributes);
                m.received.record(self.requests, &attributes);
            }
            Instruments::Client(m) => {
                let target = self
                    .target
                    .clone()
                    .unwrap_or_else(|| KeyValue::new("grpc.target", ""));
                let attributes = [self.method.clone(), target, status];
                m.attempt_duration.record(elapsed, &attributes);
                m.sent.record(self.requests, &attributes);
                m.received.record(self.responses, &attributes);
                m.call_duration.record(elapsed, &attributes);
            }
        }
    }
}

impl ServerInterceptor for ServerMetrics {
    type Observer = CallMetrics;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<CallMetrics, Status> {
        let method = if call.is_registered_method() {
            self.0.methods.get(call.service(), call.method(), || {
                format!("{}/{}", call.service(), call.method())
            })
        } else {
            Value::String(StringValue::from("other"))
        };
        let method = KeyValue::new("grpc.method", method);
        self.0.started.add(1, std::slice::from_ref(&method));
        Ok(CallMetrics {
            started: Instant::now(),
            method,
            target: None,
            requests: 0,
            responses: 0,
            instruments: Instruments::Server(self.0.clone()),
        })
    }
}

/// Records gRFC A66's client instruments for every call made on a channel.
#[derive(Clone, Debug)]
pub struct ClientMetrics(Arc<ClientInstruments>);

#[derive(Debug)]
struct ClientInstruments {
    /// Per target and path: the `grpc.method` and `grpc.target` attributes.
    methods: AttributeCache,
    targets: AttributeCache,
    started: Counter<u64>,
    attempt_duration: Histogram<f64>,
    sent: Histogram<u64>,
    received: Histogram<u64>,
    call_duration: Histogram<f64>,
}

impl ClientMetrics {
    /// The instruments, made on `meter`.
    pub fn new(meter: &Meter) -> ClientMetrics {
        ClientMetrics(Arc::new(ClientInstruments {
            methods: AttributeCache::default(),
            targets: AttributeCache::default(),
            started: meter
                .u64_counter("grpc.client.attempt.started")
                .with_unit("{attempt}")
                .with_description("Number of client call attempts started.")
                .build(),
            attempt_duration: duration_histogram(
                meter,
                "grpc.client.attempt.duration",
                "Time from the start of an attempt to its status.",
            ),
            sent: size_histogram(
                meter,
                "grpc.client.attempt.sent_total_compressed_message_size",
                "Bytes of the request messages of an attempt, compressed, without framing.",
            ),
            received: size_histogram(
                meter,
                "grpc.client.attempt.rcvd_total_compressed_message_size",
                "Bytes of the response messages of an attempt, compressed, without framing.",
            ),
            call_duration: duration_histogram(
                meter,
                "grpc.client.call.duration",
                "Time from the application starting a call to its status.",
            ),
        }))
    }
}

impl ClientInterceptor for ClientMetrics {
    type Observer = CallMetrics;

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<CallMetrics, Status> {
        let method = self.0.methods.get(call.target(), call.path(), || {
            call.path().trim_start_matches('/').to_owned()
        });
        let method = KeyValue::new("grpc.method", method);
        let target = self
            .0
            .targets
            .get(call.target(), "", || call.target().to_owned());
        let target = KeyValue::new("grpc.target", target);
        self.0.started.add(1, &[method.clone(), target.clone()]);
        Ok(CallMetrics {
            started: Instant::now(),
            method,
            target: Some(target),
            requests: 0,
            responses: 0,
            instruments: Instruments::Client(self.0.clone()),
        })
    }
}

/// Attribute values made once per (scope, name) and shared after that, so that a call's
/// attributes cost an `Arc` clone rather than a string each. Grows with the methods (and
/// targets) that are called: a server caches only methods it has (the rest are `other`).
#[derive(Debug, Default)]
struct AttributeCache(RwLock<HashMap<Box<str>, ByName>>);

/// The values of one scope, by name.
type ByName = HashMap<Box<str>, Value>;

impl AttributeCache {
    fn get(&self, scope: &str, name: &str, make: impl FnOnce() -> String) -> Value {
        if let Some(value) = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(scope)
            .and_then(|names| names.get(name))
        {
            return value.clone();
        }
        let value = Value::String(StringValue::from(Arc::<str>::from(make())));
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(scope.into())
            .or_default()
            .entry(name.into())
            .or_insert(value)
            .clone()
    }
}
