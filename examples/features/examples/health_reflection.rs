//! Health checking and reflection, each one line on the server: a load balancer or Kubernetes
//! probe asks `grpc.health.v1.Health` whether a service is serving, and grpcurl, `tern` or any
//! reflection client discovers the services without a `.proto`.
//!
//! `cargo run -p tern-features --example health_reflection`

use hello::hello::hello_server::HelloServer;
use hello::Greeter;
use tern::services::health::proto::health_check_response::ServingStatus;
use tern::services::health::proto::health_client::HealthClient;
use tern::services::health::proto::HealthCheckRequest;
use tern::services::health::{self, HealthReporter};
use tern::services::reflection::v1::server_reflection_client::ServerReflectionClient;
use tern::services::reflection::v1::server_reflection_request::MessageRequest;
use tern::services::reflection::v1::server_reflection_response::MessageResponse;
use tern::services::reflection::v1::ServerReflectionRequest;
use tern::services::reflection::Reflection;
use tern_features::{expect, serve_in_background};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let health = HealthReporter::new();
    health.set_serving("hello.Hello");
    let reflection = Reflection::new()
        .register(hello::FILE_DESCRIPTOR_SET)?
        .register(health::proto::FILE_DESCRIPTOR_SET)?;
    let router = tern::Server::builder()
        .add_service(HelloServer::new(Greeter))
        .with_health(health.clone())
        .with_reflection(reflection);
    let addr = serve_in_background(router).await?;
    let channel = tern::Channel::connect(&format!("http://{addr}")).await?;

    let probe = HealthClient::new(channel.clone());
    let check = |service: &str| HealthCheckRequest {
        service: service.into(),
    };
    let status = probe
        .check(check("hello.Hello"))
        .await?
        .into_inner()
        .status();
    println!("health: hello.Hello is {status:?}");
    expect(status == ServingStatus::Serving, "hello.Hello serving")?;

    // Draining for maintenance: probes see NOT_SERVING and send traffic elsewhere.
    health.set_not_serving("hello.Hello");
    let status = probe
        .check(check("hello.Hello"))
        .await?
        .into_inner()
        .status();
    println!("health: after set_not_serving, hello.Hello is {status:?}");
    expect(
        status == ServingStatus::NotServing,
        "hello.Hello not serving",
    )?;

    // Reflection: the services, as `grpcurl list` asks for them.
    let reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        message_request: Some(MessageRequest::ListServices(String::new())),
        ..Default::default()
    };
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let mut services = Vec::new();
    while let Some(reply) = replies.message().await? {
        if let Some(MessageResponse::ListServicesResponse(list)) = reply.message_response {
            services.extend(list.service.into_iter().map(|s| s.name));
        }
    }
    services.sort();
    println!("reflection: {}", services.join(", "));
    expect(
        services.iter().any(|s| s == "hello.Hello"),
        "hello.Hello listed",
    )?;
    Ok(())
}
