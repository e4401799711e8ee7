//! Unary calls per second, Tern client to Tern server over loopback, in one process.
//!
//! `cargo bench -p tern-tests --bench unary -- [CONCURRENCY] [SECONDS]`
//! A first figure for the hot path; the side-by-side comparison with other implementations lives
//! in `bench/`. Nothing here asserts on time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::HelloServer;
use hello::hello::HelloRequest;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(
            tern::Server::builder()
                .add_service(HelloServer::new(hello::Greeter))
                .serve_listener(listener, std::future::pending()),
        );
        let client = HelloClient::connect(&format!("http://{addr}")).await.unwrap();
        let calls = Arc::new(AtomicU64::new(0));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let client = client.clone();
                let calls = calls.clone();
                tokio::spawn(async move {
                    while Instant::now() < deadline {
                        let request = HelloRequest {
                            name: "world".into(),
                            age: 18,
                        };
                        let reply = client.say_hello(request).await.expect("call");
                        assert_eq!(reply.get_ref().message, "hello world 18");
                        calls.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        let start = Instant::now();
        for worker in workers {
            worker.await.unwrap();
        }
        let elapsed = start.elapsed().as_secs_f64();
        let calls = calls.load(Ordering::Relaxed);
        println!(
            "unary SayHello, 1 connection x {concurrency} in flight, {seconds} s: {calls} calls, {:.0} calls/s, mean {:.1} us/call",
            calls as f64 / elapsed,
            elapsed * 1e6 / calls as f64 * concurrency as f64
        );
    });
}
