//! The route guide's server: serves `routeguide.RouteGuide` (with reflection) on 0.0.0.0:50051,
//! or `--addr`, until SIGTERM or Ctrl-C, then drains its calls.

use std::net::SocketAddr;

use clap::Parser;
use route_guide::routeguide::route_guide_server::RouteGuideServer;
use route_guide::{features, RouteGuideService, FILE_DESCRIPTOR_SET};
use tern::services::reflection::Reflection;
use tern::Server;

#[derive(Parser)]
#[command(about = "Serves gRPC's route guide example")]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "0.0.0.0:50051")]
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
    Server::builder()
        .add_service(RouteGuideServer::new(RouteGuideService::new(features())))
        .with_reflection(Reflection::new().register(FILE_DESCRIPTOR_SET)?)
        .serve_listener(listener, async {
            tern::server::stop_signal().await;
        })
        .await?;
    Ok(())
}
