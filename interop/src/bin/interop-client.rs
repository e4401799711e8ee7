//! The interop test client: `interop-client --server_host=HOST --server_port=PORT
//! --test_case=CASE [--use_tls=true [--use_test_ca=true] [--ca_file=F]
//! [--server_host_override=NAME]]`, grpc-go's flags with their meaning, plus
//! `--client_cert_file` / `--client_key_file` for mutual TLS. Exits non-zero when the case fails.

use std::path::PathBuf;

use clap::Parser;
use tern::tls::{Certificate, ClientTlsConfig, Identity};
use tern_interop::auth::ServiceAccount;
use tern_interop::client::{run, run_auth, Connector, AUTH_CASES, CASES};
use tern_interop::parse_bool;

#[derive(Parser)]
#[command(about = "gRPC interop test client")]
struct Args {
    #[arg(long = "server_host", default_value = "127.0.0.1")]
    server_host: String,
    #[arg(long = "server_port")]
    server_port: u16,
    /// One of the cases, or `all`.
    #[arg(long = "test_case", default_value = "large_unary")]
    test_case: String,
    /// Connect with TLS.
    #[arg(long = "use_tls", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    use_tls: bool,
    /// Trust the test CA instead of the system's roots. Tern bundles no test CA: it is the one
    /// `--ca_file` names, which this flag then requires.
    #[arg(long = "use_test_ca", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    use_test_ca: bool,
    /// The CA certificate (PEM) to trust for the server's certificate.
    #[arg(long = "ca_file")]
    ca_file: Option<PathBuf>,
    /// The name the server's certificate must have (and SNI and :authority), when not
    /// --server_host.
    #[arg(long = "server_host_override")]
    server_host_override: Option<String>,
    /// A client certificate chain (PEM) to present: mutual TLS. Not a grpc-go flag.
    #[arg(long = "client_cert_file", requires = "client_key_file")]
    client_cert_file: Option<PathBuf>,
    /// The key of --client_cert_file (PEM).
    #[arg(long = "client_key_file", requires = "client_cert_file")]
    client_key_file: Option<PathBuf>,
    /// A service account key file, for the auth cases (jwt_token_creds, oauth2_auth_token,
    /// per_rpc_creds, service_account_creds); its token_uri is where tokens are fetched.
    #[arg(long = "service_account_key_file")]
    service_account_key_file: Option<PathBuf>,
    /// The scope asked for with OAuth2 tokens.
    #[arg(long = "oauth_scope", default_value = "")]
    oauth_scope: String,
    /// Calls made by rpc_soak and channel_soak.
    #[arg(long = "soak_iterations", default_value_t = 10)]
    soak_iterations: u32,
}

/// The connector the flags describe, or why they do not make sense.
fn connector(args: &Args) -> Result<Connector, String> {
    let host = if args.server_host.contains(':') {
        format!("[{}]", args.server_host)
    } else {
        args.server_host.clone()
    };
    let scheme = if args.use_tls { "https" } else { "http" };
    let mut connector = Connector {
        target: format!("{scheme}://{host}:{}", args.server_port),
        tls: None,
        host_override: None,
        credentials: None,
    };
    if !args.use_tls {
        return Ok(connector);
    }
    let mut tls = ClientTlsConfig::new();
    match (&args.ca_file, args.use_test_ca) {
        (Some(ca), _) => {
            tls = tls.ca_certificate(Certificate::from_pem_file(ca).map_err(|e| e.to_string())?)
        }
        (None, true) => {
            return Err("--use_test_ca: Tern bundles no test CA; give it with --ca_file".into())
        }
        (None, false) => {}
    }
    if let (Some(cert), Some(key)) = (&args.client_cert_file, &args.client_key_file) {
        tls = tls.identity(Identity::from_pem_files(cert, key).map_err(|e| e.to_string())?);
    }
    connector.tls = Some(tls);
    connector.host_override = args.server_host_override.clone();
    Ok(connector)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let connector = match connector(&args) {
        Ok(connector) => connector,
        Err(why) => {
            eprintln!("error: {why}");
            return std::process::ExitCode::from(2);
        }
    };
    let cases: Vec<&str> = if args.test_case == "all" {
        CASES.to_vec()
    } else {
        vec![args.test_case.as_str()]
    };
    let account = match &args.service_account_key_file {
        Some(path) => match ServiceAccount::from_file(path) {
            Ok(account) => Some(account),
            Err(why) => {
                eprintln!("error: {why}");
                return std::process::ExitCode::from(2);
            }
        },
        None => None,
    };
    let mut failed = false;
    for case in cases {
        let result = if AUTH_CASES.contains(&case) {
            match (&account, connector.tls.is_some()) {
                (Some(account), true) => {
                    run_auth(case, &connector, account, &args.oauth_scope).await
                }
                (None, _) => Err("needs --service_account_key_file".to_owned()),
                (_, false) => Err("needs TLS (--use_tls=true)".to_owned()),
            }
        } else {
            run(case, &connector, args.soak_iterations).await
        };
        match result {
            Ok(()) => println!("{case}: passed"),
            Err(why) => {
                println!("{case}: FAILED: {why}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
