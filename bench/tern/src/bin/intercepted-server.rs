//! The tutorial's Hello service on Tern with interceptors, for bench/run.py's cost of them:
//! `intercepted-server ADDR noop3` runs a chain of three interceptors that do nothing (each
//! with an observer told of every message and the status); `intercepted-server ADDR metrics`
//! records gRFC A66's metrics into an OpenTelemetry meter provider whose periodic reader comes
//! round once an hour and drops what it reads (so the cost is the recording, not an export).

use std::net::SocketAddr;

use hello::hello::hello_server::HelloServer;
use hello::Greeter;
use tern::interceptor::{CallObserver, IncomingCall, Message, ServerInterceptor};
use tern::otel::opentelemetry::metrics::MeterProvider as _;
use tern::otel::opentelemetry_sdk::error::OTelSdkResult;
use tern::otel::opentelemetry_sdk::metrics::data::ResourceMetrics;
use tern::otel::opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use tern::otel::opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use tern::otel::ServerMetrics;
use tern::{Metadata, Server, Status};

/// Accepts every call and watches it, doing nothing.
struct Noop;

struct NoopObserver;

impl CallObserver for NoopObserver {
    fn on_request(&mut self, message: &Message<'_>) {
        std::hint::black_box(message.wire_size());
    }

    fn on_response(&mut self, message: &Message<'_>) {
        std::hint::black_box(message.wire_size());
    }

    fn on_finish(&mut self, status: &Status, _: &mut Metadata) {
        std::hint::black_box(status.code());
    }
}

impl ServerInterceptor for Noop {
    type Observer = NoopObserver;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<NoopObserver, Status> {
        std::hint::black_box(call.method());
        Ok(NoopObserver)
    }
}

/// An exporter that drops what it is given.
struct Discard;

impl PushMetricExporter for Discard {
    async fn export(&self, _: &ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .ok_or("usage: intercepted-server ADDR noop3|metrics")?
        .parse()?;
    let mode = args.next().unwrap_or_default();
    let server = match mode.as_str() {
        "noop3" => Server::builder()
            .intercept(Noop)
            .intercept(Noop)
            .intercept(Noop),
        "metrics" => {
            let reader = PeriodicReader::builder(Discard)
                .with_interval(std::time::Duration::from_secs(3600))
                .build();
            let provider = SdkMeterProvider::builder().with_reader(reader).build();
            let server = Server::builder().intercept(ServerMetrics::new(&provider.meter("bench")));
            // Kept for the life of the process: dropping it would stop the recording.
            std::mem::forget(provider);
            server
        }
        other => return Err(format!("unknown mode {other:?}: noop3 or metrics").into()),
    };
    server
        .add_service(HelloServer::new(Greeter))
        .serve(addr)
        .await?;
    Ok(())
}
