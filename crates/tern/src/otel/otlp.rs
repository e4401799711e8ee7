//! Sending metrics to an OpenTelemetry collector with OTLP over gRPC
//! (`opentelemetry.proto.collector.metrics.v1.MetricsService/Export`), through Tern's own
//! client: no second gRPC stack in the process. The messages are opentelemetry-proto's.

use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};

use crate::client::{Channel, Client};
use crate::codec::ProstCodec;
use crate::error::Error;
use crate::request::Request;

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// How long one export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A metrics exporter that sends OTLP over a Tern channel.
///
/// The SDK's periodic reader exports from a thread of its own, outside any runtime, so each
/// export runs on the Tokio runtime the exporter was made in and the reader's thread waits for
/// it.
#[derive(Debug)]
pub struct OtlpExporter {
    client: Client,
    runtime: tokio::runtime::Handle,
    temporality: Temporality,
}

impl OtlpExporter {
    /// Exports over `channel` (to a collector's OTLP/gRPC port, usually 4317), cumulative as
    /// OTLP's default. Must be called within a Tokio runtime, which runs the exports.
    pub fn new(channel: Channel) -> OtlpExporter {
        OtlpExporter {
            client: Client::new(channel),
            runtime: tokio::runtime::Handle::current(),
            temporality: Temporality::Cumulative,
        }
    }

    /// Exports deltas instead of running totals.
    pub fn with_temporality(mut self, temporality: Temporality) -> OtlpExporter {
        self.temporality = temporality;
        self
    }
}

impl PushMetricExporter for OtlpExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let request = ExportMetricsServiceRequest::from(metrics);
        let client = self.client.clone();
        let (done, result) = tokio::sync::oneshot::channel();
        self.runtime.spawn(async move {
            let mut request = Request::new(request);
            request.set_timeout(EXPORT_TIMEOUT);
            let codec =
                ProstCodec::<ExportMetricsServiceRequest, ExportMetricsServiceResponse>::new();
            let path = http::uri::PathAndQuery::from_static(EXPORT_PATH);
            let _ = done.send(client.unary(path, request, codec).await);
        });
        match result.await {
            Ok(Ok(response)) => match &response.get_ref().partial_success {
                Some(partial) if partial.rejected_data_points > 0 => {
                    Err(OTelSdkError::InternalFailure(format!(
                        "the collector rejected {} data points: {}",
                        partial.rejected_data_points, partial.error_message
                    )))
                }
                _ => Ok(()),
            },
            Ok(Err(status)) => Err(OTelSdkError::InternalFailure(format!(
                "OTLP export failed: {status}"
            ))),
            Err(_) => Err(OTelSdkError::InternalFailure(
                "the runtime running the export shut down".into(),
            )),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Nothing is held between exports.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

/// A meter provider exporting to the collector the standard environment names, or `None` when
/// it names none: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` or else `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (an `http://` or `https://` URL of the collector's OTLP/gRPC port), every
/// `OTEL_METRIC_EXPORT_INTERVAL` milliseconds (default 60 s), with the service name from
/// `OTEL_SERVICE_NAME` or else `service_name`. Connects lazily, so a collector that is not up yet
/// does not keep the program from starting. Must be called within a Tokio runtime.
///
/// Shut the provider down before the program exits, from a blocking thread
/// (`tokio::task::spawn_blocking(move || provider.shutdown())`), to send the last figures.
pub fn from_env(service_name: &str) -> Option<SdkMeterProvider> {
    let endpoint = [
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))?;
    match provider_for(&endpoint, service_name) {
        Ok(provider) => Some(provider),
        Err(e) => {
            tracing::warn!(%endpoint, error = %e, "not exporting metrics: invalid OTLP endpoint");
            None
        }
    }
}

fn provider_for(endpoint: &str, service_name: &str) -> Result<SdkMeterProvider, Error> {
    let channel = Channel::lazy(endpoint)?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service_name.to_owned());
    }
    Ok(SdkMeterProvider::builder()
        .with_periodic_exporter(OtlpExporter::new(channel))
        .with_resource(resource.build())
        .build())
}
