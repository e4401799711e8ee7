//! The interop TestService server: `interop-server --port=PORT [--use_tls=true
//! --tls_cert_file=F --tls_key_file=F [--client_ca_file=F]]`, grpc-go's flags with their
//! meaning, plus `--client_ca_file` to require client certificates (mutual TLS).

use std::path::PathBuf;

use clap::Parser;
use tern::tls::{Certificate, ServerTlsConfig};
use tern_interop::parse_bool;
use tern_interop::pb::test_service_server::TestServiceServer;
use tern_interop::server::InteropServer;

#[derive(Parser)]
#[command(about = "gRPC interop test server (grpc.testing.TestService)")]
struct Args {
    /// Port to listen on; 0 picks a free one.
    #[arg(long)]
    port: u16,
    /// Serve TLS, with --tls_cert_file and --tls_key_file (Tern bundles no test keys).
    #[arg(long = "use_tls", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    use_tls: bool,
    /// The server's certificate chain (PEM).
    #[arg(long = "tls_cert_file")]
    tls_cert_file: Option<PathBuf>,
    /// The server's private key (PEM).
    #[arg(long = "tls_key_file")]
    tls_key_file: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM). Not a grpc-go flag.
    #[arg(long = "client_ca_file")]
    client_ca_file: Option<PathBuf>,
    /// The host to bind (runners expect all interfaces; tests pass 127.0.0.1).
    #[arg(long = "host", default_value = "0.0.0.0")]
    host: String,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut server = tern::Server::builder();
    if args.use_tls {
        let (Some(cert), Some(key)) = (&args.tls_cert_file, &args.tls_key_file) else {
            return Err("--use_tls=true needs --tls_cert_file and --tls_key_file".into());
        };
        let mut tls = ServerTlsConfig::from_pem_files(cert, key)?;
        if let Some(ca) = &args.client_ca_file {
            tls = tls.client_ca(Certificate::from_pem_file(ca)?);
        }
        server = server.tls(tls)?;
    }
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port)).await?;
    println!("listening on {}", listener.local_addr()?);
    server
        .add_service(TestServiceServer::new(InteropServer))
        .serve_listener(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
