//! Errors with details: a server refuses a request with INVALID_ARGUMENT and the standard
//! `google.rpc` details — which fields are wrong (BadRequest), a machine-readable reason
//! (ErrorInfo), when to retry (RetryInfo), a link (Help) — and the client reads them back. Any
//! gRPC implementation's client reads these (grpc-go's `status.Details`, Python's
//! `grpcio-status`...).
//!
//! `cargo run -p tern-features --example errors`

use std::time::Duration;

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::{Hello, HelloServer};
use hello::hello::{HelloReply, HelloRequest};
use tern::error_details::{BadRequest, ErrorDetails, ErrorInfo};
use tern::{Code, Request, Response, Status};
use tern_features::{expect, serve_in_background};

struct StrictGreeter;

impl Hello for StrictGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let HelloRequest { name, age } = request.into_inner();
        let mut details = ErrorDetails::new();
        if name.is_empty() {
            details = details.field_violation("name", "must not be empty");
        }
        if !(0..=150).contains(&age) {
            details = details.field_violation("age", "must be between 0 and 150");
        }
        if !details.is_empty() {
            let details = details
                .error_info(
                    "INVALID_GREETING",
                    "hello.example.com",
                    [("service", "hello")],
                )
                .retry_delay(Duration::from_secs(1))
                .help_link("how to greet", "https://example.com/docs/greeting");
            return Err(Status::with_error_details(
                Code::InvalidArgument,
                "the greeting request is invalid",
                details,
            ));
        }
        Ok(Response::new(HelloReply {
            message: format!("hello {name} {age}"),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr =
        serve_in_background(tern::Server::builder().add_service(HelloServer::new(StrictGreeter)))
            .await?;
    let client = HelloClient::connect(&format!("http://{addr}")).await?;

    let status = client
        .say_hello(HelloRequest {
            name: String::new(),
            age: 200,
        })
        .await
        .unwrap_err();
    println!("client: {:?}: {}", status.code(), status.message());
    let details = status.error_details()?;
    if let Some(bad_request) = details.get::<BadRequest>() {
        for violation in &bad_request.field_violations {
            println!(
                "client:   field {:?} {}",
                violation.field, violation.description
            );
        }
    }
    if let Some(info) = details.get::<ErrorInfo>() {
        println!("client:   reason {} in {}", info.reason, info.domain);
    }
    if let Some(delay) = details.retry_after() {
        println!("client:   retry after {delay:?}");
    }
    expect(
        details
            .get::<BadRequest>()
            .is_some_and(|b| b.field_violations.len() == 2),
        "two field violations",
    )?;
    expect(
        details.retry_after() == Some(Duration::from_secs(1)),
        "a retry delay",
    )?;
    Ok(())
}
