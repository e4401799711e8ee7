//! `tern`: the gRPC command line. Call a method with JSON, list and describe a server's services,
//! check its health, show its channelz view, generate Rust code from `.proto` files.
//!
//! TLS: a target `https://host:port` is called over TLS, and so is any target when `--cacert`,
//! `--cert`, `--servername` or `--insecure` is given; `http://host:port`, `host:port` and
//! `unix:/path` are cleartext otherwise.
//!
//! Exit codes: 0 on success; for a failed call, the gRPC status code (5 for NOT_FOUND, 14 for
//! UNAVAILABLE, ...); 64 for bad arguments or input. `tern health` exits as grpc_health_probe
//! does (0 serving, 2 connection failure, 3 RPC failure, 4 not serving).

mod bench;
mod call;
mod channelz;
mod describe;
mod schema;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tern::{Channel, Status};

#[derive(Parser)]
#[command(
    name = "tern",
    version,
    about = "Call, list and describe gRPC services; check health; show channelz; generate code"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    security: Security,
}

/// How to reach the server over TLS; any of these makes the connection TLS.
#[derive(clap::Args, Clone, Default)]
struct Security {
    /// Trust this CA certificate (PEM) for the server's certificate, instead of the system's roots.
    #[arg(long, global = true, value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Present this certificate chain (PEM) to the server: mutual TLS.
    #[arg(long, global = true, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key of --cert (PEM).
    #[arg(long, global = true, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The name the server's certificate must have, sent as SNI and :authority too (for a
    /// server reached by an address its certificate does not name).
    #[arg(long, global = true, value_name = "NAME")]
    servername: Option<String>,
    /// Do not verify the server's certificate (testing only: anyone can impersonate the server).
    #[arg(long, short = 'k', global = true)]
    insecure: bool,
}

/// A server to call, and how to reach it.
#[derive(Clone)]
pub(crate) struct Target {
    addr: String,
    tls: Option<tern::tls::ClientTlsConfig>,
    servername: Option<String>,
}

impl Target {
    /// The target `addr` reached as `security` says; bad files or a contradiction (TLS flags
    /// with an `http://` target) are usage errors.
    fn new(addr: String, security: &Security) -> Result<Target, Failure> {
        use tern::tls::{Certificate, ClientTlsConfig, Identity};
        let wants_tls = security.cacert.is_some()
            || security.cert.is_some()
            || security.servername.is_some()
            || security.insecure;
        if !wants_tls {
            return Ok(Target {
                addr,
                tls: None,
                servername: None,
            });
        }
        if addr.starts_with("http://") {
            return Err(Failure::usage(format!(
                "{addr} asks for cleartext (http://) but TLS options were given: use https:// or host:port"
            )));
        }
        let usage = |e: tern::Error| Failure::usage(e.to_string());
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = &security.cacert {
            tls = tls.ca_certificate(Certificate::from_pem_file(ca).map_err(usage)?);
        }
        if let (Some(cert), Some(key)) = (&security.cert, &security.key) {
            tls = tls.identity(Identity::from_pem_files(cert, key).map_err(usage)?);
        }
        if security.insecure {
            tls = tls.danger_accept_invalid_certificates();
        }
        Ok(Target {
            addr,
            tls: Some(tls),
            servername: security.servername.clone(),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.addr)
    }
}

/// Where the types come from: the server's reflection, or `.proto` files.
#[derive(clap::Args, Clone, Default)]
struct Protos {
    /// A .proto file to read types from instead of asking the server (repeatable).
    #[arg(long = "proto")]
    protos: Vec<String>,
    /// A directory to find imports in (repeatable; default: the current directory).
    #[arg(short = 'I', long = "import-path")]
    includes: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Calls a method: JSON in, JSON out.
    Call {
        /// The server: host:port, http://host:port or unix:/path.
        addr: String,
        /// The method: pkg.Service/Method.
        method: String,
        /// The request as JSON; @FILE reads a file, - reads stdin. Streaming requests take
        /// several JSON objects. Default: {}.
        #[arg(short = 'd', long = "data")]
        data: Option<String>,
        /// Request metadata, 'key: value' (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// The call's deadline, e.g. 500ms, 5s, 1m.
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        #[command(flatten)]
        protos: Protos,
    },
    /// Lists the services of a server, or the methods of one service.
    List {
        /// The server.
        addr: String,
        /// A service whose methods to list.
        service: Option<String>,
        #[command(flatten)]
        protos: Protos,
    },
    /// Describes a service, method, message or enum.
    Describe {
        /// The server.
        addr: String,
        /// The fully-qualified name, e.g. hello.Hello or hello.HelloRequest.
        symbol: String,
        #[command(flatten)]
        protos: Protos,
    },
    /// Checks health (grpc.health.v1); exits 0 when SERVING, like grpc_health_probe.
    Health {
        /// The server.
        addr: String,
        /// The service to check; the server as a whole by default.
        #[arg(default_value = "")]
        service: String,
        /// How long to wait for the answer.
        #[arg(long, value_parser = parse_duration, default_value = "5s")]
        timeout: Duration,
    },
    /// Shows a server's channelz view (grpc.channelz.v1) as tables: its servers and their calls,
    /// their connections' streams and messages, and the process's channels.
    Channelz {
        /// The server.
        addr: String,
    },
    /// Load-tests a method: calls/s, latency percentiles, errors by status code.
    Bench {
        /// The server.
        addr: String,
        /// The method: pkg.Service/Method.
        #[arg(long = "call")]
        method: String,
        /// The request as JSON (@FILE, - for stdin); default {}.
        #[arg(short = 'd', long = "data")]
        data: Option<String>,
        /// The request as encoded protobuf bytes, from a file.
        #[arg(long = "data-bin", conflicts_with = "data")]
        data_bin: Option<String>,
        /// Connections to spread the calls over.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// Calls in flight at once.
        #[arg(short = 'c', long, default_value_t = 1)]
        concurrency: usize,
        /// Total calls to make.
        #[arg(short = 'n', long = "total", conflicts_with = "duration")]
        total: Option<u64>,
        /// How long to run (default 10s when -n is not given).
        #[arg(short = 'z', long = "duration", value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Calls during this first stretch are not counted (with -z).
        #[arg(long, value_parser = parse_duration, default_value = "1s")]
        warmup: Duration,
        /// At most this many calls per second, in all.
        #[arg(long)]
        rps: Option<f64>,
        /// For client-streaming and bidi methods: messages sent per call.
        #[arg(long = "stream-messages", default_value_t = 10)]
        stream_messages: usize,
        /// Output: text for people, json for machines.
        #[arg(long, default_value = "text", value_parser = ["text", "json"])]
        format: String,
        #[command(flatten)]
        protos: Protos,
    },
    /// Generates Rust code from .proto files, as a build.rs with tern-build would.
    Gen {
        /// The .proto files (repeatable).
        #[arg(long = "proto", required = true)]
        protos: Vec<String>,
        /// Directories to find imports in (repeatable; default: the current directory).
        #[arg(short = 'I', long = "import-path")]
        includes: Vec<String>,
        /// Where to write the .rs files.
        #[arg(long)]
        out: String,
    },
}

/// Why a command failed, and the exit code that says so.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server (or the transport) answered with this status.
    Rpc(Status),
    /// Bad arguments or input.
    Usage(String),
}

impl Failure {
    pub(crate) fn rpc(status: Status) -> Failure {
        Failure::Rpc(status)
    }

    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage(message.into())
    }

    /// An unknown name, with the known names that are close to it.
    pub(crate) fn not_found(name: &str, known: &[String]) -> Failure {
        let mut close: Vec<&String> = known
            .iter()
            .filter(|k| {
                let (a, b) = (k.to_lowercase(), name.to_lowercase());
                a.contains(&b) || b.contains(&a) || distance(&a, &b) <= 3
            })
            .collect();
        close.sort();
        let hint = if close.is_empty() {
            if known.is_empty() {
                String::new()
            } else {
                format!("; known: {}", known.join(", "))
            }
        } else {
            format!(
                "; did you mean {}?",
                close
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        Failure::Rpc(Status::not_found(format!("unknown {name:?}{hint}")))
    }
}

/// Levenshtein distance, for suggestions.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}: use e.g. 500ms, 5s, 1m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" | "" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?}: use ms, s, m or h"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("invalid duration {text:?}: {e}"))
}

/// Connects a channel, turning a connection failure into UNAVAILABLE with the address.
pub(crate) async fn connect(target: &Target) -> Result<Channel, Failure> {
    let usage = |e: tern::Error| Failure::usage(e.to_string());
    let mut builder = Channel::builder(&target.addr).map_err(usage)?;
    if let Some(tls) = &target.tls {
        builder = builder.tls(tls.clone());
    }
    if let Some(name) = &target.servername {
        builder = builder.authority_override(name).map_err(usage)?;
    }
    builder.connect().await.map_err(|e| match e.kind() {
        tern::ErrorKind::InvalidAddress => Failure::usage(e.to_string()),
        _ => Failure::rpc(Status::unavailable(e.to_string())),
    })
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let target = |addr: String| Target::new(addr, &cli.security);
    match cli.command {
        Command::Call {
            addr,
            method,
            data,
            headers,
            timeout,
            protos,
        } => {
            let options = call::Options {
                data,
                headers,
                timeout,
            };
            call::run(
                &target(addr)?,
                &method,
                options,
                &protos.protos,
                &protos.includes,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            addr,
            service,
            protos,
        } => {
            describe::list(
                &target(addr)?,
                service.as_deref(),
                &protos.protos,
                &protos.includes,
            )
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Describe {
            addr,
            symbol,
            protos,
        } => {
            describe::describe(&target(addr)?, &symbol, &protos.protos, &protos.includes).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Health {
            addr,
            service,
            timeout,
        } => Ok(health(&target(addr)?, &service, timeout).await),
        Command::Channelz { addr } => {
            channelz::run(&target(addr)?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench {
            addr,
            method,
            data,
            data_bin,
            connections,
            concurrency,
            total,
            duration,
            warmup,
            rps,
            stream_messages,
            format,
            protos,
        } => {
            bench::run(bench::Plan {
                addr: target(addr)?,
                method,
                data,
                data_bin,
                protos: protos.protos,
                includes: protos.includes,
                connections,
                concurrency,
                total,
                duration,
                warmup,
                rps,
                stream_messages,
                json: format == "json",
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Gen {
            protos,
            includes,
            out,
        } => {
            let includes = if includes.is_empty() {
                vec![".".to_owned()]
            } else {
                includes
            };
            tern_build::configure()
                .out_dir(&out)
                .emit_rerun_if_changed(false)
                .compile(&protos, &includes)
                .map_err(|e| Failure::usage(e.to_string()))?;
            match protos.as_slice() {
                [one] => println!("wrote Rust code for {one} into {out}"),
                many => println!("wrote Rust code for {} .proto files into {out}", many.len()),
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// One health probe, with grpc_health_probe's exit codes.
async fn health(addr: &Target, service: &str, timeout: Duration) -> ExitCode {
    use tern::services::health::proto::health_check_response::ServingStatus;
    use tern::services::health::proto::health_client::HealthClient;
    use tern::services::health::proto::HealthCheckRequest;
    let channel = match tokio::time::timeout(timeout, connect(addr)).await {
        Ok(Ok(channel)) => channel,
        Ok(Err(Failure::Rpc(e))) => {
            eprintln!("error: {}", e.message());
            return ExitCode::from(2);
        }
        Ok(Err(Failure::Usage(e))) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(_) => {
            eprintln!("error: connecting to {addr} timed out after {timeout:?}");
            return ExitCode::from(2);
        }
    };
    let mut request = tern::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    request.set_timeout(timeout);
    match HealthClient::new(channel).check(request).await {
        Ok(response) => {
            let status = response.into_inner().status();
            println!("status: {}", status.as_str_name());
            if status == ServingStatus::Serving {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(4)
            }
        }
        Err(status) => {
            eprintln!("error: health check failed: {status}");
            ExitCode::from(3)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(64)
        }
        Err(Failure::Rpc(status)) => {
            eprintln!("error: {}: {}", status.code(), status.message());
            // Exit codes carry the status; OK cannot be a failure.
            ExitCode::from(u8::try_from(status.code().as_i32()).unwrap_or(2).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5m"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn suggestions_name_close_names() {
        let known = vec!["hello.Hello".to_owned(), "grpc.health.v1.Health".to_owned()];
        let Failure::Rpc(status) = Failure::not_found("hello.Helo", &known) else {
            panic!()
        };
        assert!(
            status.message().contains("did you mean hello.Hello?"),
            "{}",
            status.message()
        );
    }
}
