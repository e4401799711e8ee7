//! `h2spec-server [ADDR]`: the probe service on Tern's own HTTP/2 engine, for h2spec
//! (`scripts/h2spec.sh`). Listens on ADDR (default `127.0.0.1:0`) and prints `listening on
//! HOST:PORT` once bound. On that engine a request that is not gRPC (h2spec's plain GET and
//! POST) gets its HTTP status with a short text body, which h2spec's flow-control and request
//! cases need.

use tern::server::Http2Engine;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::ProbeService;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = match tokio::net::TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(local) => println!("listening on {local}"),
        Err(e) => {
            eprintln!("no local address: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let served = tern::Server::builder()
        .http2_engine(Http2Engine::Tern)
        .add_service(ProbeServer::new(ProbeService))
        .serve_listener(listener, async {
            tern::server::stop_signal().await;
        })
        .await;
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
