//! Deadlines and cancellation: a client gives a call 200 ms; the server's handler sees the
//! deadline, passes what is left to its own work, and is cancelled — its future dropped — when
//! the time is up, so no work goes on for a caller who has gone. A client that drops a call
//! cancels it the same way.
//!
//! `cargo run -p tern-features --example deadlines`

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hello::hello::hello_client::HelloClient;
use hello::hello::hello_server::{Hello, HelloServer};
use hello::hello::{HelloReply, HelloRequest};
use tern::{Code, Request, Response, Status};
use tern_features::{expect, serve_in_background};

/// Takes as long as the request's `age` says, in milliseconds; counts the calls it did not finish.
#[derive(Clone, Default)]
struct SlowGreeter {
    cancelled: Arc<AtomicUsize>,
}

/// Counts a handler as cancelled if it is dropped before it finishes.
struct Unfinished(Arc<AtomicUsize>, bool);

impl Drop for Unfinished {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Hello for SlowGreeter {
    async fn say_hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloReply>, Status> {
        let mut guard = Unfinished(self.cancelled.clone(), false);
        // The deadline the client set (from `grpc-timeout`): hand it on to whatever the handler
        // calls next, so the whole chain gives up together.
        if let Some(deadline) = request.deadline() {
            let left = deadline.saturating_duration_since(Instant::now());
            println!("server: the call has {} ms left", left.as_millis());
        }
        let HelloRequest { name, age } = request.into_inner();
        tokio::time::sleep(Duration::from_millis(u64::try_from(age).unwrap_or(0))).await;
        guard.1 = true;
        Ok(Response::new(HelloReply {
            message: format!("hello {name} {age}"),
        }))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let greeter = SlowGreeter::default();
    let cancelled = greeter.cancelled.clone();
    let addr =
        serve_in_background(tern::Server::builder().add_service(HelloServer::new(greeter))).await?;
    let client = HelloClient::connect(&format!("http://{addr}")).await?;

    // Fast enough: answered within the deadline.
    let mut quick = Request::new(HelloRequest {
        name: "quick".into(),
        age: 10,
    });
    quick.set_timeout(Duration::from_millis(200));
    let reply = client.say_hello(quick).await?;
    println!("client: {}", reply.into_inner().message);

    // Too slow: DEADLINE_EXCEEDED after 200 ms, and the server stops working on it.
    let mut slow = Request::new(HelloRequest {
        name: "slow".into(),
        age: 5_000,
    });
    slow.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let status = client.say_hello(slow).await.unwrap_err();
    println!(
        "client: {:?} after {} ms: {}",
        status.code(),
        started.elapsed().as_millis(),
        status.message()
    );
    expect(
        status.code() == Code::DeadlineExceeded,
        "the slow call's code",
    )?;

    // Cancelled by the client: dropping the call's future resets its stream.
    let call = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .say_hello(HelloRequest {
                    name: "dropped".into(),
                    age: 5_000,
                })
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    call.abort();
    println!("client: dropped a call in flight");

    // Both unfinished handlers were dropped on the server.
    let waiting = Instant::now();
    while cancelled.load(Ordering::SeqCst) < 2 && waiting.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let count = cancelled.load(Ordering::SeqCst);
    println!("server: {count} handlers cancelled before they finished");
    expect(
        count == 2,
        "both the timed-out and the dropped call cancel their handler",
    )?;
    Ok(())
}
