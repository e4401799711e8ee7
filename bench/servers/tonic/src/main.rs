//! The benchmark's services on tonic: `tonic-hello ADDR` serves hello.Hello and tern.bench.Streams.

use tonic::transport::Server;
use tonic_hello::bench::streams_server::StreamsServer;
use tonic_hello::hello::hello_server::HelloServer;
use tonic_hello::{Greeter, StreamsService};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into())
        .parse()?;
    Server::builder()
        .tcp_nodelay(true)
        .add_service(HelloServer::new(Greeter))
        .add_service(StreamsServer::new(StreamsService))
        .serve(addr)
        .await?;
    Ok(())
}
