//! The tutorial's server: serves `hello.Hello` on 0.0.0.0:5000 (or `--addr`), in cleartext or,
//! with `--tls-cert` and `--tls-key`, over TLS (mutual TLS with `--client-ca`). Exports gRPC's
//! OpenTelemetry metrics to the collector `OTEL_EXPORTER_OTLP_ENDPOINT` names, if it names one.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use hello::hello::hello_server::HelloServer;
use hello::Greeter;
use tern::otel::opentelemetry::metrics::MeterProvider as _;
use tern::otel::ServerMetrics;
use tern::server::stop_signal;
use tern::services::health::{self, HealthReporter};
use tern::services::reflection::Reflection;
use tern::tls::{Certificate, ServerTlsConfig};
use tern::Server;

#[derive(Parser)]
#[command(about = "Serves the tutorial's Hello service")]
struct Args {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "0.0.0.0:5000")]
    addr: SocketAddr,
    /// Serve TLS with this certificate chain (PEM); re-read when the file changes.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS.
    #[arg(long, requires = "tls_cert")]
    client_ca: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match serve(Args::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut server = Server::builder();
    let metrics = tern::otel::from_env("hello-server");
    if let Some(provider) = &metrics {
        server = server.intercept(ServerMetrics::new(&provider.meter("hello-server")));
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        let mut tls = ServerTlsConfig::from_pem_files(cert, key)?;
        if let Some(ca) = &args.client_ca {
            tls = tls.client_ca(Certificate::from_pem_file(ca)?);
        }
        server = server.tls(tls)?;
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.addr))?;
    // Tests read this line to learn the port.
    println!("listening on {}", listener.local_addr()?);
    // SIGTERM (Kubernetes, systemd, Docker) or Ctrl-C: stop accepting, let the calls in flight
    // finish, then exit 0. A second signal ends the process at once.
    let shutdown = async {
        let first = stop_signal().await;
        eprintln!("{first}: shutting down, letting calls in flight finish (again to stop now)");
        tokio::spawn(async {
            let second = stop_signal().await;
            eprintln!("{second} again: stopping now");
            std::process::exit(130);
        });
    };
    // Health checking for probes and load balancers: NOT_SERVING once shutdown starts.
    let health = HealthReporter::new();
    health.set_serving("hello.Hello");
    // Reflection, so that grpcurl and `tern` can list, describe and call it with no .proto.
    let reflection = Reflection::new()
        .register(hello::FILE_DESCRIPTOR_SET)?
        .register(health::proto::FILE_DESCRIPTOR_SET)?;
    server
        .add_service(HelloServer::new(Greeter))
        .with_health(health)
        .with_reflection(reflection)
        .serve_listener(listener, shutdown)
        .await?;
    if let Some(provider) = metrics {
        // The last export, from a thread that may block while the runtime sends it.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
    Ok(())
}
