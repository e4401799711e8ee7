//! The interop TestService server: `interop-server --port=PORT [--use_tls=false]`.

use clap::Parser;
use tern_interop::parse_bool;
use tern_interop::pb::test_service_server::TestServiceServer;
use tern_interop::server::InteropServer;

#[derive(Parser)]
#[command(about = "gRPC interop test server (grpc.testing.TestService)")]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long)]
    port: u16,
    /// TLS is not supported yet: only false is accepted.
    #[arg(long = "use_tls", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    use_tls: bool,
    /// The host to bind (runners expect all interfaces; tests pass 127.0.0.1).
    #[arg(long = "host", default_value = "0.0.0.0")]
    host: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    if args.use_tls {
        return Err("--use_tls=true: TLS is not supported yet".into());
    }
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    println!("listening on {}", listener.local_addr()?);
    tern::Server::builder()
        .add_service(TestServiceServer::new(InteropServer))
        .serve_listener(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
