//! The benchmark's services on tonic: `tonic-hello ADDR [CERT KEY]` serves hello.Hello and
//! tern.bench.Streams, over TLS (rustls with ring, as Tern's default) when given a certificate
//! chain and key in PEM.

use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_hello::bench::streams_server::StreamsServer;
use tonic_hello::hello::hello_server::HelloServer;
use tonic_hello::{Greeter, StreamsService};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .map_or("127.0.0.1:50051", String::as_str)
        .parse()?;
    let mut server = Server::builder().tcp_nodelay(true);
    if let [_, cert, key] = args.as_slice() {
        let identity = Identity::from_pem(std::fs::read(cert)?, std::fs::read(key)?);
        server = server.tls_config(ServerTlsConfig::new().identity(identity))?;
    }
    server
        .add_service(HelloServer::new(Greeter))
        .add_service(StreamsServer::new(StreamsService))
        .serve(addr)
        .await?;
    Ok(())
}
