//! The tutorial's client: calls `SayHello` and prints the reply's message. An `https://` address,
//! or `--ca`, calls over TLS. Exports gRPC's OpenTelemetry metrics to the collector
//! `OTEL_EXPORTER_OTLP_ENDPOINT` names, if it names one.

use std::path::PathBuf;

use clap::Parser;
use hello::hello::hello_client::HelloClient;
use hello::hello::HelloRequest;
use tern::otel::opentelemetry::metrics::MeterProvider as _;
use tern::otel::opentelemetry_sdk::metrics::SdkMeterProvider;
use tern::otel::ClientMetrics;
use tern::tls::{Certificate, ClientTlsConfig, Identity};
use tern::Channel;

#[derive(Parser)]
#[command(about = "Calls the tutorial's Hello service")]
struct Args {
    /// The server to call.
    #[arg(long, default_value = "http://127.0.0.1:5000")]
    addr: String,
    #[arg(long, default_value = "world")]
    name: String,
    #[arg(long, default_value_t = 18)]
    age: i32,
    /// Trust this CA (PEM) for the server's certificate instead of the system's roots; implies TLS.
    #[arg(long)]
    ca: Option<PathBuf>,
    /// Present this certificate chain (PEM) to the server, for mutual TLS; implies TLS.
    #[arg(long, requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// The name the server's certificate must have, sent as SNI and :authority too.
    #[arg(long)]
    servername: Option<String>,
}

/// The channel the arguments ask for.
async fn connect(args: &Args, metrics: Option<&SdkMeterProvider>) -> Result<Channel, tern::Error> {
    let mut builder = Channel::builder(&args.addr)?;
    if let Some(provider) = metrics {
        builder = builder.intercept(ClientMetrics::new(&provider.meter("hello-client")));
    }
    if args.ca.is_some() || args.cert.is_some() {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &args.ca {
            tls = tls.ca_certificate(Certificate::from_pem_file(ca)?);
        }
        if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
            tls = tls.identity(Identity::from_pem_files(cert, key)?);
        }
        builder = builder.tls(tls);
    }
    if let Some(name) = &args.servername {
        builder = builder.authority_override(name)?;
    }
    builder.connect().await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let metrics = tern::otel::from_env("hello-client");
    let code = call(metrics.as_ref()).await;
    if let Some(provider) = metrics {
        // The one export of a short-lived client, from a thread that may block for it.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
    code
}

async fn call(metrics: Option<&SdkMeterProvider>) -> std::process::ExitCode {
    let args = Args::parse();
    let client = match connect(&args, metrics).await {
        Ok(channel) => HelloClient::new(channel),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(14);
        }
    };
    let request = HelloRequest {
        name: args.name,
        age: args.age,
    };
    match client.say_hello(request).await {
        Ok(reply) => {
            println!("{}", reply.into_inner().message);
            std::process::ExitCode::SUCCESS
        }
        Err(status) => {
            eprintln!("error: {status}");
            std::process::ExitCode::from(status.code() as u8)
        }
    }
}
