//! The tutorial's server: serves `hello.Hello` on 0.0.0.0:5000 (or `--addr`).

use std::net::SocketAddr;

use clap::Parser;
use hello::hello::hello_server::HelloServer;
use hello::Greeter;
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
    Server::builder()
        .add_service(HelloServer::new(Greeter))
        .serve_listener(listener, shutdown)
        .await?;
    Ok(())
}
