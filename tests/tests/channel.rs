//! The client channel against real Tern servers on loopback: every target form, pick_first and
//! round_robin over several servers, servers stopping and coming back, wait-for-ready, the
//! connectivity state, and re-resolution through a resolver of the test's own. Nothing here
//! asserts on wall-clock time; every wait is bounded by a timeout.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::{Hello, HelloServer};
use hello::hello::{HelloReply, HelloRequest};
use tern::client::{
    Address, BackoffConfig, ConnectivityState, LoadBalancing, ResolveFuture, Resolver,
};
use tern::{Channel, Code, Request, Response, Status};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A bound on every wait, far above what any step needs.
const PATIENCE: Duration = Duration::from_secs(20);

/// A Hello server that answers with its name and counts its calls.
#[derive(Debug)]
struct Named {
    name: String,
    calls: Arc<AtomicUsize>,
}

impl Hello for Named {
    async fn say_hello(&self, _: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(HelloReply {
            message: self.name.clone(),
        }))
    }
}

/// A running server: where it listens, how many calls it took, and how to stop it.
struct Backend {
    addr: SocketAddr,
    calls: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), tern::Error>>>,
}

impl Backend {
    async fn start(name: &str, ip: &str) -> Backend {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
        Backend::serve(name, listener)
    }

    fn serve(name: &str, listener: tokio::net::TcpListener) -> Backend {
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = oneshot::channel::<()>();
        let service = Named {
            name: name.to_owned(),
            calls: calls.clone(),
        };
        let task = tokio::spawn(
            tern::Server::builder()
                .shutdown_grace_period(Some(Duration::from_secs(5)))
                .add_service(HelloServer::new(service))
                .serve_listener(listener, async {
                    let _ = stopped.await;
                }),
        );
        Backend {
            addr,
            calls,
            stop: Some(stop),
            task: Some(task),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Stops gracefully (GOAWAY, calls in flight finish) and waits until it has.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("server stopped in time")
                .unwrap()
                .unwrap();
        }
    }
}

/// An address that refuses connections: bound, then closed.
fn closed_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Quick retries, so a server that comes back is found soon.
fn fast_backoff() -> BackoffConfig {
    let mut backoff = BackoffConfig::default();
    backoff.initial = Duration::from_millis(50);
    backoff.max = Duration::from_millis(200);
    backoff.min_connect_timeout = Duration::from_secs(5);
    backoff
}

fn ipv4(backends: &[&Backend]) -> String {
    let list: Vec<String> = backends.iter().map(|b| b.addr.to_string()).collect();
    format!("ipv4:{}", list.join(","))
}

async fn hello(
    client: &HelloClient,
    wait_for_ready: bool,
    timeout: Duration,
) -> Result<String, Status> {
    let mut request = Request::new(HelloRequest::default());
    request.set_wait_for_ready(wait_for_ready);
    request.set_timeout(timeout);
    let call = client.say_hello(request);
    match tokio::time::timeout(PATIENCE, call).await {
        Ok(result) => result.map(|reply| reply.into_inner().message),
        Err(_) => panic!("a call got no status within {PATIENCE:?}"),
    }
}

async fn ok(client: &HelloClient) -> String {
    hello(client, false, PATIENCE).await.unwrap()
}

/// Waits (bounded) until the channel is in `want`, returning every state seen on the way.
async fn wait_for_state(channel: &Channel, want: ConnectivityState) -> Vec<ConnectivityState> {
    let mut seen = vec![channel.state()];
    tokio::time::timeout(PATIENCE, async {
        while *seen.last().unwrap() != want {
            let last = *seen.last().unwrap();
            seen.push(channel.wait_for_state_change(last).await);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never {want}; saw {seen:?}"));
    seen
}

#[tokio::test]
async fn round_robin_spreads_calls_evenly_over_three_servers() {
    // Three loopback addresses, so that each server is a different IP as replicas would be.
    let a = Backend::start("a", "127.0.0.1").await;
    let b = Backend::start("b", "127.0.0.2").await;
    let c = Backend::start("c", "127.0.0.3").await;
    let channel = Channel::builder(&ipv4(&[&a, &b, &c]))
        .unwrap()
        .load_balancing(LoadBalancing::RoundRobin)
        .connect()
        .await
        .unwrap();
    let client = HelloClient::new(channel);
    // connect() returns once one connection is READY; wait until all three have taken calls.
    tokio::time::timeout(PATIENCE, async {
        while [&a, &b, &c].iter().any(|s| s.calls() == 0) {
            ok(&client).await;
        }
    })
    .await
    .expect("every server took a call");
    let before = [a.calls(), b.calls(), c.calls()];
    const CALLS: usize = 300;
    for _ in 0..CALLS {
        ok(&client).await;
    }
    let counts: Vec<usize> = [&a, &b, &c]
        .iter()
        .zip(before)
        .map(|(s, before)| s.calls() - before)
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), CALLS, "{counts:?}");
    // With all three READY the rotation is exact.
    assert_eq!(counts, [100, 100, 100]);
}

#[tokio::test]
async fn pick_first_sticks_to_the_first_address_that_works() {
    let a = Backend::start("a", "127.0.0.1").await;
    let b = Backend::start("b", "127.0.0.1").await;
    let channel = Channel::connect(&ipv4(&[&a, &b])).await.unwrap();
    let client = HelloClient::new(channel);
    for _ in 0..50 {
        assert_eq!(ok(&client).await, "a");
    }
    assert_eq!((a.calls(), b.calls()), (50, 0));

    // A first address that refuses: pick_first moves on to the next, and stays there.
    let target = format!("ipv4:{},{},{}", closed_port(), b.addr, a.addr);
    let client = HelloClient::new(Channel::connect(&target).await.unwrap());
    for _ in 0..20 {
        assert_eq!(ok(&client).await, "b");
    }
    assert_eq!(b.calls(), 20);
}

#[tokio::test]
async fn a_server_stopped_mid_run_sends_its_calls_to_the_others() {
    let mut a = Backend::start("a", "127.0.0.1").await;
    let b = Backend::start("b", "127.0.0.1").await;
    let c = Backend::start("c", "127.0.0.1").await;
    let channel = Channel::builder(&ipv4(&[&a, &b, &c]))
        .unwrap()
        .load_balancing(LoadBalancing::RoundRobin)
        .connect_backoff(fast_backoff())
        .connect()
        .await
        .unwrap();
    let client = HelloClient::new(channel.clone());
    tokio::time::timeout(PATIENCE, async {
        while [&a, &b, &c].iter().any(|s| s.calls() == 0) {
            ok(&client).await;
        }
    })
    .await
    .expect("every server took a call");

    // Four callers keep calling while `a` stops; every call ends with a status.
    const PER_CALLER: usize = 100;
    let ended = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let client = client.clone();
            let ended = ended.clone();
            let failures = failures.clone();
            tokio::spawn(async move {
                for _ in 0..PER_CALLER {
                    if let Err(status) = hello(&client, false, PATIENCE).await {
                        failures.lock().unwrap().push(status);
                    }
                    ended.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    // Stop `a` once the run is under way.
    tokio::time::timeout(PATIENCE, async {
        while ended.load(Ordering::SeqCst) < 40 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    a.stop().await;
    let a_after_stop = a.calls();
    for caller in callers {
        tokio::time::timeout(PATIENCE, caller)
            .await
            .expect("callers finished")
            .unwrap();
    }
    assert_eq!(ended.load(Ordering::SeqCst), 4 * PER_CALLER);
    // A graceful stop loses nothing: calls past GOAWAY are picked again on another connection.
    let failures = std::mem::take(&mut *failures.lock().unwrap());
    assert!(failures.is_empty(), "calls failed: {failures:?}");

    // From now on the other two take every call.
    let (b_before, c_before) = (b.calls(), c.calls());
    for _ in 0..60 {
        let name = ok(&client).await;
        assert!(name == "b" || name == "c", "{name}");
    }
    assert_eq!(a.calls(), a_after_stop);
    assert_eq!(b.calls() + c.calls() - b_before - c_before, 60);
    assert_eq!(channel.state(), ConnectivityState::Ready);
}

#[tokio::test]
async fn all_servers_down_fails_fast_unless_the_call_waits_for_ready() {
    let (first, second) = (closed_port(), closed_port());
    let channel = Channel::builder(&format!("ipv4:{first},{second}"))
        .unwrap()
        .connect_backoff(fast_backoff())
        .lazy();
    assert_eq!(channel.state(), ConnectivityState::Idle);
    let client = HelloClient::new(channel.clone());

    // No server: UNAVAILABLE, long before the call's own (long) deadline.
    let status = hello(&client, false, Duration::from_secs(600))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("none of the 2 addresses"),
        "{status:?}"
    );
    assert_eq!(channel.state(), ConnectivityState::TransientFailure);
    // Still down: UNAVAILABLE again, at once, from the sticky TRANSIENT_FAILURE.
    let status = hello(&client, false, Duration::from_secs(600))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    // Waiting for ready, a call waits until its deadline...
    let status = hello(&client, true, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");

    // ...or until a server comes back on one of the addresses.
    let waiting = {
        let client = client.clone();
        tokio::spawn(async move { hello(&client, true, PATIENCE).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let listener = tokio::net::TcpListener::bind(second).await.unwrap();
    let back = Backend::serve("back", listener);
    assert_eq!(waiting.await.unwrap().unwrap(), "back");
    assert_eq!(back.calls(), 1);
    assert_eq!(channel.state(), ConnectivityState::Ready);
}

#[tokio::test]
async fn dns_targets_resolve_localhost() {
    let a = Backend::start("a", "127.0.0.1").await;
    let port = a.addr.port();
    // localhost may resolve to ::1 first, where nothing listens: pick_first moves on.
    for target in [
        format!("dns:///localhost:{port}"),
        format!("dns:localhost:{port}"),
        format!("localhost:{port}"),
        format!("http://localhost:{port}"),
    ] {
        let client = HelloClient::new(Channel::connect(&target).await.unwrap());
        assert_eq!(ok(&client).await, "a", "{target}");
    }
    let channel = Channel::builder(&format!("dns:///localhost:{port}"))
        .unwrap()
        .load_balancing(LoadBalancing::RoundRobin)
        .connect()
        .await
        .unwrap();
    assert_eq!(ok(&HelloClient::new(channel)).await, "a");
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_targets() {
    let dir = std::env::temp_dir().join(format!("tern-channel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("hello.sock");
    let _ = std::fs::remove_file(&path);
    let calls = Arc::new(AtomicUsize::new(0));
    let service = Named {
        name: "unix".into(),
        calls: calls.clone(),
    };
    let serving = path.clone();
    tokio::spawn(async move {
        tern::Server::builder()
            .add_service(HelloServer::new(service))
            .serve_unix(&serving, std::future::pending())
            .await
    });
    wait_for_file(&path).await;
    let absolute = &path; // the temporary directory is an absolute path
    for target in [
        format!("unix:{}", absolute.display()),
        format!("unix://{}", absolute.display()),
    ] {
        let client = HelloClient::new(Channel::connect(&target).await.unwrap());
        assert_eq!(ok(&client).await, "unix", "{target}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn unix_abstract_target() {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("tern-channel-test-{}", std::process::id());
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
    let listener = std::os::unix::net::UnixListener::bind_addr(&addr).unwrap();
    listener.set_nonblocking(true).unwrap();
    let listener = tokio::net::UnixListener::from_std(listener).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let service = Named {
        name: "abstract".into(),
        calls: calls.clone(),
    };
    tokio::spawn(
        tern::Server::builder()
            .add_service(HelloServer::new(service))
            .serve_unix_listener(listener, std::future::pending()),
    );
    let client = HelloClient::new(
        Channel::connect(&format!("unix-abstract:{name}"))
            .await
            .unwrap(),
    );
    assert_eq!(ok(&client).await, "abstract");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // A name nobody listens on is refused like a closed port.
    let err = Channel::connect(&format!("unix-abstract:{name}-nobody"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), tern::ErrorKind::Connect, "{err}");
}

#[tokio::test]
async fn the_state_goes_connecting_ready_then_transient_failure() {
    // A listener that does not accept yet: TCP connects (the backlog takes it), and the
    // channel stays CONNECTING until a server answers the HTTP/2 handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let channel = Channel::builder(&format!("ipv4:{addr}"))
        .unwrap()
        .load_balancing(LoadBalancing::RoundRobin)
        .connect_backoff(fast_backoff())
        .lazy();
    assert_eq!(channel.state(), ConnectivityState::Idle);
    let client = HelloClient::new(channel.clone());
    let first_call = {
        let client = client.clone();
        tokio::spawn(async move { hello(&client, true, PATIENCE).await })
    };
    let mut seen = wait_for_state(&channel, ConnectivityState::Connecting).await;
    let mut server = Backend::serve("late", listener);
    seen.extend(wait_for_state(&channel, ConnectivityState::Ready).await);
    assert_eq!(first_call.await.unwrap().unwrap(), "late");
    server.stop().await;
    seen.extend(wait_for_state(&channel, ConnectivityState::TransientFailure).await);
    let order: Vec<_> = [
        ConnectivityState::Connecting,
        ConnectivityState::Ready,
        ConnectivityState::TransientFailure,
    ]
    .into_iter()
    .map(|state| seen.iter().position(|s| *s == state).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(
        hello(&client, false, PATIENCE).await.unwrap_err().code(),
        Code::Unavailable
    );

    channel.shutdown();
    wait_for_state(&channel, ConnectivityState::Shutdown).await;
    let status = hello(&client, true, PATIENCE).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
}

#[tokio::test]
async fn pick_first_goes_idle_when_its_connection_is_lost() {
    let mut a = Backend::start("a", "127.0.0.1").await;
    let channel = Channel::connect(&format!("ipv4:{}", a.addr)).await.unwrap();
    assert_eq!(channel.state(), ConnectivityState::Ready);
    a.stop().await;
    wait_for_state(&channel, ConnectivityState::Idle).await;
    // The next call connects again; nothing listens, so it fails, and the channel is in
    // TRANSIENT_FAILURE.
    let status = hello(&HelloClient::new(channel.clone()), false, PATIENCE)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains(&a.addr.to_string()), "{status:?}");
    assert_eq!(channel.state(), ConnectivityState::TransientFailure);
}

/// A resolver whose answer the test changes, counting how often it is asked.
#[derive(Debug, Default)]
struct Switchboard {
    addresses: Mutex<Vec<Address>>,
    asked: AtomicUsize,
}

#[derive(Debug, Clone)]
struct Shared(Arc<Switchboard>);

impl Resolver for Shared {
    fn resolve(&self) -> ResolveFuture<'_> {
        Box::pin(async move {
            self.0.asked.fetch_add(1, Ordering::SeqCst);
            Ok(self.0.addresses.lock().unwrap().clone())
        })
    }
}

#[tokio::test]
async fn a_lost_connection_makes_the_channel_resolve_again() {
    let mut a = Backend::start("a", "127.0.0.1").await;
    let b = Backend::start("b", "127.0.0.1").await;
    let board = Arc::new(Switchboard::default());
    *board.addresses.lock().unwrap() = vec![Address::Tcp(a.addr)];
    let channel = Channel::builder("dns:///service.test:443")
        .unwrap()
        .resolver(Shared(board.clone()))
        .min_resolution_interval(Duration::ZERO)
        .connect_backoff(fast_backoff())
        .connect()
        .await
        .unwrap();
    let client = HelloClient::new(channel);
    assert_eq!(ok(&client).await, "a");
    assert_eq!(board.asked.load(Ordering::SeqCst), 1);

    // The service moves: the resolver now answers `b`, and `a` goes away.
    *board.addresses.lock().unwrap() = vec![Address::Tcp(b.addr)];
    a.stop().await;
    assert_eq!(hello(&client, true, PATIENCE).await.unwrap(), "b");
    assert!(board.asked.load(Ordering::SeqCst) >= 2);

    // With a long interval, a loss soon after the first resolution does not ask the resolver
    // again: re-resolution waits for the interval.
    let mut c = Backend::start("c", "127.0.0.1").await;
    let board = Arc::new(Switchboard::default());
    *board.addresses.lock().unwrap() = vec![Address::Tcp(c.addr)];
    let channel = Channel::builder("dns:///service.test:443")
        .unwrap()
        .resolver(Shared(board.clone()))
        .min_resolution_interval(Duration::from_secs(3600))
        .connect_backoff(fast_backoff())
        .connect()
        .await
        .unwrap();
    assert_eq!(ok(&HelloClient::new(channel.clone())).await, "c");
    c.stop().await;
    wait_for_state(&channel, ConnectivityState::Idle).await;
    let status = hello(&HelloClient::new(channel.clone()), false, PATIENCE)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(board.asked.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_resolver_that_finds_nothing_fails_calls_with_why() {
    let board = Arc::new(Switchboard::default());
    let channel = Channel::builder("dns:///nowhere.test:443")
        .unwrap()
        .resolver(Shared(board))
        .lazy();
    let status = hello(&HelloClient::new(channel), false, PATIENCE)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("resolving"), "{status:?}");
    assert!(status.message().contains("no addresses"), "{status:?}");
}

/// Waits for the socket file the server task creates.
async fn wait_for_file(path: &std::path::Path) {
    tokio::time::timeout(PATIENCE, async {
        while !path.exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the server created its socket")
}
