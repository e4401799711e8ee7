//! Health checking: Tern's client and grpc_health_probe (the Go tool Kubernetes setups use)
//! against a Tern server with `with_health`; statuses change live and turn NOT_SERVING on shutdown.

use std::time::Duration;

use tern::services::health::proto::health_check_response::ServingStatus;
use tern::services::health::proto::health_client::HealthClient;
use tern::services::health::proto::{HealthCheckRequest, HealthListRequest};
use tern::services::health::HealthReporter;
use tern::Code;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::ProbeService;

async fn serve(
    health: HealthReporter,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), tern::Error>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(
        tern::Server::builder()
            .add_service(ProbeServer::new(ProbeService))
            .with_health(health)
            .serve_listener(listener, async {
                let _ = stopped.await;
            }),
    );
    (addr, stop, task)
}

fn check(service: &str) -> HealthCheckRequest {
    HealthCheckRequest {
        service: service.into(),
    }
}

#[tokio::test]
async fn check_list_and_watch() {
    let health = HealthReporter::new();
    health.set_serving("tern.probe.Probe");
    let (addr, stop, task) = serve(health.clone()).await;
    let client = HealthClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();

    let status = |r: tern::Response<_>| {
        let r: tern::services::health::proto::HealthCheckResponse = r.into_inner();
        r.status()
    };
    assert_eq!(
        status(client.check(check("")).await.unwrap()),
        ServingStatus::Serving
    );
    assert_eq!(
        status(client.check(check("tern.probe.Probe")).await.unwrap()),
        ServingStatus::Serving
    );
    let unknown = client.check(check("no.Such")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    let list = client
        .list(HealthListRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.statuses.len(), 2);

    let mut watch = client
        .watch(check("tern.probe.Probe"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );
    health.set_not_serving("tern.probe.Probe");
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::NotServing
    );
    health.set_serving("tern.probe.Probe");
    assert_eq!(
        watch.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );

    let mut later = client
        .watch(check("later.Service"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        later.message().await.unwrap().unwrap().status(),
        ServingStatus::ServiceUnknown
    );
    health.set_serving("later.Service");
    assert_eq!(
        later.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );

    // Shutting down turns everything NOT_SERVING before the connections drain.
    stop.send(()).unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), watch.message())
        .await
        .expect("a status change on shutdown");
    assert_eq!(next.unwrap().unwrap().status(), ServingStatus::NotServing);
    drop((watch, later, client));
    tokio::time::timeout(Duration::from_secs(40), task)
        .await
        .expect("the server stopped")
        .unwrap()
        .unwrap();
}

/// grpc_health_probe, installed by interop/peers/install.sh; its path comes in TERN_PEERS.
fn probe_binary() -> std::path::PathBuf {
    let dir = std::env::var_os("TERN_PEERS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/.peers/bin")
        });
    let path = dir.join("grpc_health_probe");
    assert!(
        path.exists(),
        "no grpc_health_probe at {}: run interop/peers/install.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

async fn probe(addr: std::net::SocketAddr, service: &str) -> Option<i32> {
    let mut command = tokio::process::Command::new(probe_binary());
    command.arg(format!("-addr=127.0.0.1:{}", addr.port()));
    if !service.is_empty() {
        command.arg(format!("-service={service}"));
    }
    command
        .output()
        .await
        .expect("run grpc_health_probe")
        .status
        .code()
}

#[tokio::test]
async fn grpc_health_probe_sees_serving_and_not_serving() {
    let health = HealthReporter::new();
    health.set_serving("tern.probe.Probe");
    let (addr, _stop, _task) = serve(health.clone()).await;
    // grpc_health_probe exits 0 when SERVING, 4 when not, 3 on an RPC failure (NOT_FOUND).
    assert_eq!(probe(addr, "").await, Some(0));
    assert_eq!(probe(addr, "tern.probe.Probe").await, Some(0));
    health.set_not_serving("tern.probe.Probe");
    assert_eq!(probe(addr, "tern.probe.Probe").await, Some(4));
    assert_eq!(probe(addr, "no.Such").await, Some(3));
}
