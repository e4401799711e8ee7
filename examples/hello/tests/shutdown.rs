//! `hello-server` stopped as Kubernetes and systemd stop it, with SIGTERM, under a steady load:
//! every call either completes with the right answer or is refused as UNAVAILABLE before it was
//! processed — none is cut mid-way — a health watcher sees NOT_SERVING and its stream end OK, and
//! the process exits 0.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hello::hello::hello_client::HelloClient;
use hello::hello::HelloRequest;
use tern::services::health::proto::health_check_response::ServingStatus;
use tern::services::health::proto::health_client::HealthClient;
use tern::services::health::proto::HealthCheckRequest;
use tern::{Channel, Code};

/// Clients calling in a loop, each on its own connection.
const CLIENTS: usize = 8;
/// Calls answered before SIGTERM is sent, so that the load is steady by then.
const CALLS_BEFORE_SIGTERM: usize = 2_000;
/// A bound on each client's calls, so that the test ends whatever happens.
const MAX_CALLS_PER_CLIENT: usize = 50_000;

struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hello_server() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hello-server"))
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hello-server");
    let stdout = child.stdout.take().expect("server stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the server's first line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("expected 'listening on HOST:PORT', got {line:?}"));
    Server { child, port }
}

/// What one client saw.
#[derive(Default)]
struct Outcomes {
    ok: usize,
    refused: usize,
    /// Anything else: a call cut mid-way, or a wrong answer.
    lost: Vec<String>,
}

async fn load(target: String, client_id: usize, answered: Arc<AtomicUsize>) -> Outcomes {
    let mut outcomes = Outcomes::default();
    let channel = match Channel::builder(&target) {
        Ok(builder) => builder.connect().await,
        Err(e) => Err(e),
    };
    let client = match channel {
        Ok(channel) => HelloClient::new(channel),
        Err(e) => {
            outcomes
                .lost
                .push(format!("client {client_id} could not connect: {e}"));
            return outcomes;
        }
    };
    for i in 0..MAX_CALLS_PER_CLIENT {
        let name = format!("client{client_id}-call{i}");
        let age = i32::try_from(i).unwrap_or(i32::MAX);
        let reply = client
            .say_hello(HelloRequest {
                name: name.clone(),
                age,
            })
            .await;
        match reply {
            Ok(reply) => {
                let message = reply.into_inner().message;
                if message == format!("hello {name} {age}") {
                    outcomes.ok += 1;
                    answered.fetch_add(1, Ordering::Relaxed);
                } else {
                    outcomes
                        .lost
                        .push(format!("{name}: wrong answer {message:?}"));
                }
            }
            // Refused before it was processed: the server is gone or going. This client stops
            // here; a real one would call another replica.
            Err(status) if status.code() == Code::Unavailable => {
                outcomes.refused += 1;
                break;
            }
            Err(status) => {
                outcomes.lost.push(format!("{name}: {status}"));
                break;
            }
        }
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_no_call() {
    let mut server = hello_server();
    let target = format!("http://127.0.0.1:{}", server.port);

    let health = HealthClient::new(Channel::builder(&target).unwrap().connect().await.unwrap());
    let mut watch = health
        .watch(HealthCheckRequest {
            service: "hello.Hello".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status, ServingStatus::Serving as i32);

    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(load(target.clone(), id, answered.clone())))
        .collect();
    let started = Instant::now();
    while answered.load(Ordering::Relaxed) < CALLS_BEFORE_SIGTERM {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load never got going: {} calls answered",
            answered.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());

    let mut total = Outcomes::default();
    for client in clients {
        let outcomes = client.await.unwrap();
        total.ok += outcomes.ok;
        total.refused += outcomes.refused;
        total.lost.extend(outcomes.lost);
    }
    assert!(total.lost.is_empty(), "calls lost: {:#?}", total.lost);
    assert!(
        total.ok >= CALLS_BEFORE_SIGTERM,
        "{} calls answered",
        total.ok
    );
    assert_eq!(
        total.refused, CLIENTS,
        "every client ends refused, once the server stops"
    );

    // The watcher learns the server is going, and its stream ends cleanly rather than holding the
    // server for its grace period.
    let last = tokio::time::timeout(Duration::from_secs(10), async {
        let mut statuses = Vec::new();
        while let Some(reply) = watch.message().await? {
            statuses.push(reply.status);
        }
        Ok::<_, tern::Status>(statuses)
    })
    .await
    .expect("the watch ended before the grace period")
    .expect("the watch ended OK");
    assert_eq!(last, vec![ServingStatus::NotServing as i32]);

    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "hello-server did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "hello-server exited with {status}");
}
