//! Tern: gRPC for Rust.
//!
//! Define a service in a `.proto` file, compile it from `build.rs` with `tern-build` (no `protoc`
//! needed), implement the generated trait with plain `async fn`s, and serve it:
//!
//! ```ignore
//! use hello::hello_server::{Hello, HelloServer};
//! use hello::{HelloReply, HelloRequest};
//! use tern::{Request, Response, Server, Status};
//!
//! struct Greeter;
//!
//! impl Hello for Greeter {
//!     async fn say_hello(&self, req: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
//!         let req = req.into_inner();
//!         Ok(Response::new(HelloReply { message: format!("hello {} {}", req.name, req.age) }))
//!     }
//! }
//!
//! Server::builder()
//!     .add_service(HelloServer::new(Greeter))
//!     .serve_with_signals("0.0.0.0:5000".parse()?) // drains calls on SIGTERM or Ctrl-C
//!     .await?;
//! ```
//!
//! and call it with the generated client:
//!
//! ```ignore
//! let client = hello::hello_client::HelloClient::connect("http://127.0.0.1:5000").await?;
//! let reply = client.say_hello(HelloRequest { name: "world".into(), age: 18 }).await?;
//! ```
//!
//! The services Tern ships are generated the same way, so this runs as it is: a server with
//! health checking, and a client calling it, in one process over the in-memory transport.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tern::services::health::proto::health_client::HealthClient;
//! use tern::services::health::proto::{health_check_response::ServingStatus, HealthCheckRequest};
//! use tern::services::health::HealthReporter;
//! use tern::{memory::MemoryListener, Request, Server};
//!
//! let health = HealthReporter::new();
//! health.set_serving("hello.Hello");
//! let listener = MemoryListener::new();
//! let connector = listener.connector();
//! tokio::spawn(Server::builder().with_health(health).serve_memory(listener, std::future::pending()));
//!
//! let client = HealthClient::new(connector.connect().await?);
//! let mut request = Request::new(HealthCheckRequest { service: "hello.Hello".into() });
//! request.set_timeout(Duration::from_secs(1)); // a deadline, enforced on both sides
//! let reply = client.check(request).await?;
//! assert_eq!(reply.into_inner().status(), ServingStatus::Serving);
//! # Ok(()) }
//! ```
//!
//! # Modules
//!
//! - [`server`]: [`Server`]'s settings (limits, keepalive, connection age, shutdown grace, TLS),
//!   the router, graceful shutdown and [`server::stop_signal`].
//! - [`client`]: [`Channel`] (every gRPC target form, [`client::target`]; a connection per
//!   resolved address over TCP, Unix or abstract sockets or memory, with TLS; pick_first or
//!   round_robin; connectivity state; reconnection with gRPC's backoff), the
//!   [`Resolver`](client::Resolver) trait, and the `Client` generated clients wrap.
//! - [`Request`], [`Response`], [`Status`], [`Code`], [`Metadata`], [`Streaming`]: what handlers
//!   and callers see.
//! - [`error_details`]: the `google.rpc` rich error details, sent and read with a [`Status`].
//! - [`interceptor`]: async interceptors on servers, services and channels — they see each
//!   call's start, may change or refuse it, and observe its messages and status — and ready-made
//!   ones in [`interceptor::builtin`] (bearer tokens, API keys, request logs and spans through
//!   `tracing`, concurrency and rate limits, deadline caps).
//! - `otel` (feature `otel`): gRFC A66's OpenTelemetry metrics, an OTLP exporter over Tern's
//!   own client, and W3C trace context across processes.
//! - [`credentials`]: per-call credentials (bearer tokens refreshed before they expire), and the
//!   server's check of them.
//! - [`tls`] (feature `tls`): server and mutual TLS, certificate rotation, client TLS.
//! - [`memory`]: the in-memory transport, for tests with no socket.
//! - [`services`]: health checking and server reflection, one line each.
//! - [`codec`]: how messages become bytes (prost's by default).
//! - [`protocol`]: the gRPC wire format with no IO — framing, compression, `grpc-timeout`,
//!   `grpc-message` — usable on its own.
//! - [`codegen`]: what generated code uses; not for hand-written code.
//!
//! Internally, `transport` is the one place that touches the HTTP/2 engine.
//!
//! # Cargo features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `gzip` | yes | gzip and deflate message compression (flate2) |
//! | `zstd` | yes | zstd message compression (the zstd C library, built by zstd-sys) |
//! | `tls` | yes | TLS on rustls with the ring provider; `https://` targets with the system's roots |
//! | `tls-aws-lc-rs` | no | TLS with the aws-lc-rs provider instead (chosen over ring when both are on) |
//! | `otel` | no | OpenTelemetry metrics (gRFC A66) and traces, exported with OTLP (opentelemetry 0.33) |

#![warn(missing_docs)]

// Generated code names the runtime `::tern`, inside this crate too (the services it ships).
extern crate self as tern;

pub mod client;
pub mod codec;
pub mod credentials;
mod error;
pub mod error_details;
pub mod interceptor;
pub mod memory;
mod message;
mod metadata;
#[cfg(feature = "otel")]
pub mod otel;
pub mod protocol;
mod request;
mod rewind;
pub mod server;
pub mod services;
mod status;
mod streaming;
#[cfg(feature = "tls-core")]
pub mod tls;
mod transport;

// The types a gRPC user touches.
pub use client::Channel;
pub use error::{Error, ErrorKind};
pub use message::CompressionSwitch;
pub use metadata::{InvalidMetadata, Metadata};
pub use protocol::compression::CompressionEncoding;
pub use request::{IntoRequest, IntoStreamingRequest, Request, Response};
pub use server::Server;
pub use status::{Code, Status};
pub use streaming::Streaming;

/// Includes the code `tern-build` generated for a proto package, from `$OUT_DIR`: the package
/// as the `.proto` spells it, keywords and all (`"google.logging.type"`).
///
/// ```ignore
/// pub mod hello {
///     tern::include_proto!("hello");
/// }
/// ```
#[macro_export]
macro_rules! include_proto {
    ($package:tt) => {
        include!(concat!(env!("OUT_DIR"), concat!("/", $package, ".rs")));
    };
}

/// Includes every package `tern-build` compiled into `$OUT_DIR`, imports included, as nested
/// modules: `google.logging.type` becomes `google::logging::r#type`, with no module written by
/// hand.
///
/// ```ignore
/// tern::include_protos!();
///
/// use google::logging::r#type::LogSeverity;
/// ```
///
/// Inside a module of its own, if the crate has other items of those names:
///
/// ```ignore
/// pub mod proto {
///     tern::include_protos!();
/// }
/// ```
#[macro_export]
macro_rules! include_protos {
    () => {
        include!(concat!(env!("OUT_DIR"), "/_includes.rs"));
    };
}

/// The encoded descriptors (a `FileDescriptorSet`) of everything `tern-build` compiled for
/// this crate, for [`services::reflection`].
///
/// ```ignore
/// pub const FILE_DESCRIPTOR_SET: &[u8] = tern::include_descriptor_set!();
/// ```
#[macro_export]
macro_rules! include_descriptor_set {
    () => {
        include_bytes!(concat!(env!("OUT_DIR"), "/tern_descriptor_set.bin"))
    };
}

/// What generated code uses. Not a stable API for hand-written code: it changes with `tern-build`.
#[doc(hidden)]
pub mod codegen {
    pub use crate::client::Client;
    pub use crate::codec::ProstCodec;
    pub use crate::server::{
        client_streaming, server_streaming, streaming, unary, ServerCall, Service, ServiceLimits,
    };
    pub use futures_core::Stream;
    pub use http::uri::PathAndQuery;
    pub use prost;
    pub use prost_types;
    pub use std::future::Future;
    pub use std::sync::Arc;
}
