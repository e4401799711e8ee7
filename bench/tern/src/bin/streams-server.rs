//! `tern.bench.Streams` on Tern, for bench/run.py: `streams-server ADDR`.

use std::net::SocketAddr;

use tern::Server;
use tern_bench::pb::streams_server::StreamsServer;
use tern_bench::StreamsService;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into())
        .parse()?;
    Server::builder()
        .add_service(StreamsServer::new(StreamsService))
        .serve(addr)
        .await?;
    Ok(())
}
