//! Tern's side of the gRPC interop test suite (doc/interop-test-descriptions.md in grpc/grpc):
//! the `grpc.testing.TestService` server and the test cases its client runs. Both binaries take
//! the flags every implementation's interop runner passes.

pub mod auth;
pub mod client;
pub mod server;

/// The `grpc.testing` proto package, compiled from `proto/grpc/testing/*.proto`.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod pb {
    tern::include_proto!("grpc.testing");
}

/// Parses a boolean flag value as the interop runners write it (`true`/`false`).
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}
