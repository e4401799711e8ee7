//! The tutorial's server: serves `hello.Hello` on 0.0.0.0:5000 (or `--addr`).

use std::net::SocketAddr;

use clap::Parser;
use hello::hello::hello_server::HelloServer;
use hello::Greeter;
use tern::services::health::{self, HealthReporter};
use tern::services::reflection::Reflection;
use tern::Server;

#[derive(Parser)]
#[command(about = "Serves the tutorial's Hello service")]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "0.0.0.0:5000")]
    addr: SocketAddr,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    // Tests read this line to learn the port.
    println!("listening on {}", listener.local_addr()?);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    // Health checking for probes and load balancers: NOT_SERVING once shutdown starts.
    let health = HealthReporter::new();
    health.set_serving("hello.Hello");
    // Reflection, so that grpcurl and `tern` can list, describe and call it with no .proto.
    let reflection = Reflection::new()
        .register(hello::FILE_DESCRIPTOR_SET)?
        .register(health::proto::FILE_DESCRIPTOR_SET)?;
    Server::builder()
        .add_service(HelloServer::new(Greeter))
        .with_health(health)
        .with_reflection(reflection)
        .serve_listener(listener, shutdown)
        .await?;
    Ok(())
}
