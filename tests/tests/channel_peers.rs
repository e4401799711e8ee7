//! The client channel against a real peer: round_robin over two Tern servers and a grpcio
//! (gRPC C-core) server, the tutorial's Python greeter. The grpcio process is killed mid-run
//! (SIGKILL: no GOAWAY, connections cut) and started again on its port; every call ends with a
//! status, the others take the calls meanwhile, and the restarted server gets calls again.
//! Needs the Python peers (`TERN_PYTHON`, or the `.venv` that `scripts/test.sh` creates, with
//! the hello stubs it generates). Every wait is bounded; nothing asserts on time.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::{Hello, HelloServer};
use hello::hello::{HelloReply, HelloRequest};
use tern::client::{BackoffConfig, LoadBalancing};
use tern::{Channel, Code, Request, Response, Status};
use tern_tests::python;

const PATIENCE: Duration = Duration::from_secs(30);

/// What the grpcio greeter answers an empty request with.
const GRPCIO: &str = "hello  0";

#[derive(Debug)]
struct Named(&'static str);

impl Hello for Named {
    async fn say_hello(&self, _: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        Ok(Response::new(HelloReply {
            message: self.0.to_owned(),
        }))
    }
}

async fn tern_server(name: &'static str) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .add_service(HelloServer::new(Named(name)))
            .serve_listener(listener, std::future::pending()),
    );
    addr
}

/// The grpcio greeter, killed when dropped.
struct Grpcio(Child);

impl Drop for Grpcio {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the grpcio greeter on `addr` (port 0 picks one); gives it and its port once it
/// listens.
fn grpcio(addr: &str) -> (Grpcio, u16) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/python/greeter_server.py");
    let mut child = Command::new(python())
        .arg("-u")
        .arg(script)
        .args(["--addr", addr])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the grpcio greeter");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the greeter's first line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("expected 'listening on HOST:PORT', got {line:?}"));
    (Grpcio(child), port)
}

async fn call(client: &HelloClient) -> Result<String, Status> {
    let mut request = Request::new(HelloRequest::default());
    request.set_timeout(PATIENCE);
    match tokio::time::timeout(PATIENCE, client.say_hello(request)).await {
        Ok(result) => result.map(|reply| reply.into_inner().message),
        Err(_) => panic!("a call got no status within {PATIENCE:?}"),
    }
}

/// Calls until every name in `names` has answered (bounded).
async fn until_all_answer(client: &HelloClient, names: &[&str]) {
    tokio::time::timeout(PATIENCE, async {
        let mut seen = std::collections::HashSet::new();
        while !names.iter().all(|n| seen.contains(*n)) {
            if let Ok(name) = call(client).await {
                seen.insert(name);
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not every server answered: {names:?}"));
}

#[tokio::test]
async fn round_robin_over_tern_and_grpcio_rides_through_a_kill_and_a_restart() {
    let a = tern_server("a").await;
    let b = tern_server("b").await;
    let (peer, port) = grpcio("127.0.0.1:0");
    let mut backoff = BackoffConfig::default();
    backoff.initial = Duration::from_millis(50);
    backoff.max = Duration::from_millis(200);
    let channel = Channel::builder(&format!("ipv4:{a},127.0.0.1:{port},{b}"))
        .unwrap()
        .load_balancing(LoadBalancing::RoundRobin)
        .connect_backoff(backoff)
        .connect()
        .await
        .unwrap();
    let client = HelloClient::new(channel);
    until_all_answer(&client, &["a", "b", GRPCIO]).await;

    // All three READY: an exact rotation.
    let mut counts: HashMap<String, usize> = HashMap::new();
    for _ in 0..90 {
        *counts.entry(call(&client).await.unwrap()).or_default() += 1;
    }
    assert_eq!(counts.values().sum::<usize>(), 90);
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n == 30), "{counts:?}");

    // Callers keep calling while grpcio is killed; every call ends with a status: OK, or
    // UNAVAILABLE for a call that was on the cut connection.
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let outcomes = outcomes.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    let outcome = call(&client).await;
                    outcomes.lock().unwrap().push(outcome);
                }
            })
        })
        .collect();
    tokio::time::timeout(PATIENCE, async {
        while outcomes.lock().unwrap().len() < 40 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    drop(peer); // SIGKILL
    for caller in callers {
        tokio::time::timeout(PATIENCE, caller)
            .await
            .unwrap()
            .unwrap();
    }
    let outcomes = std::mem::take(&mut *outcomes.lock().unwrap());
    assert_eq!(outcomes.len(), 400);
    for outcome in &outcomes {
        if let Err(status) = outcome {
            assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        }
    }
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    println!("{failed} of 400 calls failed UNAVAILABLE when grpcio was killed");

    // Once the channel has seen the loss, the Tern servers take every call.
    tokio::time::timeout(PATIENCE, async { while call(&client).await.is_err() {} })
        .await
        .unwrap();
    for _ in 0..40 {
        let name = call(&client).await.unwrap();
        assert!(name == "a" || name == "b", "{name}");
    }

    // grpcio comes back on its port: its subchannel reconnects (with backoff) and takes calls.
    let (_peer, again) = grpcio(&format!("127.0.0.1:{port}"));
    assert_eq!(again, port);
    until_all_answer(&client, &["a", "b", GRPCIO]).await;
}
