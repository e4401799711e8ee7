//! A dropped call cancels its handler on the server, over TCP and over the in-memory transport.
//! In a test binary of its own, with one test, because it counts the probe's running handlers
//! process-wide.

use std::time::Duration;

use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::EchoRequest;
use tern_tests::start_probe_server;

async fn client() -> ProbeClient {
    let addr = start_probe_server().await;
    ProbeClient::connect(&format!("http://{addr}"))
        .await
        .expect("connect")
}

#[tokio::test]
async fn dropping_a_call_cancels_its_handler() {
    dropping_cancels(client().await).await;
    let listener = tern::memory::MemoryListener::new();
    let connector = listener.connector();
    tokio::spawn(
        tern::Server::builder()
            .add_service(ProbeServer::new(tern_tests::ProbeService))
            .serve_memory(listener, std::future::pending()),
    );
    dropping_cancels(ProbeClient::new(connector.connect().await.unwrap())).await;
}

async fn dropping_cancels(client: ProbeClient) {
    let before = tern_tests::HANDLERS_IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst);
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .echo(EchoRequest {
                    sleep_ms: 60_000,
                    ..Default::default()
                })
                .await
        }
    });
    // Wait until the handler runs, then drop the call: RST_STREAM(CANCEL) reaches the server,
    // which drops the handler's future.
    for _ in 0..200 {
        if tern_tests::HANDLERS_IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    call.abort();
    for _ in 0..400 {
        if tern_tests::HANDLERS_IN_FLIGHT.load(std::sync::atomic::Ordering::SeqCst) <= before {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the handler of the dropped call is still running");
}
