//! Distributed tracing with OpenTelemetry: a span per call on each side, carried between
//! processes in W3C trace context (`traceparent`, `tracestate` metadata), as grpc-go's and
//! grpc-java's OpenTelemetry plugins carry it, so one trace crosses Tern and their hops.
//!
//! The server continues the caller's trace and hands the call's context to the handler as a
//! request extension (`request.extensions().get::<opentelemetry::Context>()`); a handler that
//! calls on puts it in its outgoing request's extensions, and the channel's [`ClientTracing`]
//! makes its span a child of it. Without one, the client continues `Context::current()`.

use std::borrow::Cow;

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanKind, Status as SpanStatus, TraceContextExt, Tracer};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;

use crate::interceptor::{
    CallObserver, ClientInterceptor, IncomingCall, OutgoingCall, ServerInterceptor,
};
use crate::metadata::Metadata;
use crate::status::{Code, Status};

/// Reads trace context from request metadata.
struct MetadataExtractor<'a>(&'a Metadata);

impl Extractor for MetadataExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().collect()
    }
}

/// Writes trace context into request metadata.
struct MetadataInjector<'a>(&'a mut Metadata);

impl Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // A propagator writes valid lowercase keys and printable values.
        let _ = self.0.insert(key, &value);
    }
}

/// Server-side tracing: continues the caller's W3C trace context, or starts a trace, with a
/// `Server` span named `package.Service/Method` per call.
#[derive(Debug)]
pub struct ServerTracing<T> {
    tracer: T,
    propagator: TraceContextPropagator,
}

impl<T> ServerTracing<T> {
    /// Spans from `tracer` (`provider.tracer("tern")`, say).
    pub fn new(tracer: T) -> ServerTracing<T> {
        ServerTracing {
            tracer,
            propagator: TraceContextPropagator::new(),
        }
    }
}

/// Client-side tracing: a `Client` span per call, its context sent in `traceparent`.
#[derive(Debug)]
pub struct ClientTracing<T> {
    tracer: T,
    propagator: TraceContextPropagator,
}

impl<T> ClientTracing<T> {
    /// Spans from `tracer`.
    pub fn new(tracer: T) -> ClientTracing<T> {
        ClientTracing {
            tracer,
            propagator: TraceContextPropagator::new(),
        }
    }
}

/// Ends a call's span with its status.
#[derive(Debug)]
pub struct EndSpan {
    context: Context,
    server: bool,
}

impl CallObserver for EndSpan {
    fn on_finish(&mut self, status: &Status, _: &mut Metadata) {
        let span = self.context.span();
        span.set_attribute(KeyValue::new("rpc.grpc.status_code", status.code() as i64));
        // OpenTelemetry's RPC conventions: every failure is an error on the client; on the
        // server only the codes that say the server failed.
        let error = match status.code() {
            Code::Ok => false,
            Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss => true,
            _ => !self.server,
        };
        if error {
            span.set_status(SpanStatus::error(status.message().to_owned()));
        }
        span.end();
    }
}

fn rpc_attributes(service: &str, method: &str) -> [KeyValue; 3] {
    [
        KeyValue::new("rpc.system", "grpc"),
        KeyValue::new("rpc.service", service.to_owned()),
        KeyValue::new("rpc.method", method.to_owned()),
    ]
}

impl<T> ServerInterceptor for ServerTracing<T>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    type Observer = EndSpan;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<EndSpan, Status> {
        let parent = self.propagator.extract(&MetadataExtractor(call.metadata()));
        let name = format!("{}/{}", call.service(), call.method());
        let span = self
            .tracer
            .span_builder(Cow::Owned(name))
            .with_kind(SpanKind::Server)
            .with_attributes(rpc_attributes(call.service(), call.method()))
            .start_with_context(&self.tracer, &parent);
        let context = parent.with_span(span);
        call.extensions_mut().insert(context.clone());
        Ok(EndSpan {
            context,
            server: true,
        })
    }
}

impl<T> ClientInterceptor for ClientTracing<T>
where
    T: Tracer + Send + Sync + 'static,
    T::Span: Send + Sync + 'static,
{
    type Observer = EndSpan;

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<EndSpan, Status> {
        let parent = call
            .extensions()
            .get::<Context>()
            .cloned()
            .unwrap_or_else(Context::current);
        let name = call.path().trim_start_matches('/').to_owned();
        let span = self
            .tracer
            .span_builder(Cow::Owned(name))
            .with_kind(SpanKind::Client)
            .with_attributes(rpc_attributes(call.service(), call.method()))
            .start_with_context(&self.tracer, &parent);
        let context = parent.with_span(span);
        self.propagator
            .inject_context(&context, &mut MetadataInjector(call.metadata_mut()));
        Ok(EndSpan {
            context,
            server: false,
        })
    }
}
