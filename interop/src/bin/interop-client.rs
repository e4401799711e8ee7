//! The interop test client: `interop-client --server_host=HOST --server_port=PORT
//! --test_case=CASE [--use_tls=false]`. Exits non-zero when the case fails.

use clap::Parser;
use tern_interop::client::{run, CASES};
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
    /// TLS is not supported yet: only false is accepted.
    #[arg(long = "use_tls", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    use_tls: bool,
    /// Accepted for runner compatibility; meaningful only with TLS.
    #[arg(long = "use_test_ca", default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    use_test_ca: bool,
    /// Accepted for runner compatibility; meaningful only with TLS.
    #[arg(long = "server_host_override")]
    server_host_override: Option<String>,
    /// Calls made by rpc_soak and channel_soak.
    #[arg(long = "soak_iterations", default_value_t = 10)]
    soak_iterations: u32,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.use_tls {
        eprintln!("--use_tls=true: TLS is not supported yet");
        return std::process::ExitCode::from(2);
    }
    let _ = (args.use_test_ca, args.server_host_override);
    let host = if args.server_host.contains(':') {
        format!("[{}]", args.server_host)
    } else {
        args.server_host.clone()
    };
    let target = format!("http://{host}:{}", args.server_port);
    let cases: Vec<&str> = if args.test_case == "all" {
        CASES.to_vec()
    } else {
        vec![args.test_case.as_str()]
    };
    let mut failed = false;
    for case in cases {
        match run(case, &target, args.soak_iterations).await {
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
