//! Drives `hello.Hello/SayHello` with Tern's generated client, as bench/servers/tonic's
//! `tonic-load` does with tonic's: `tern-load ADDR CONNECTIONS IN_FLIGHT SECONDS`. Prints calls/s
//! and the client's own CPU time per call, so that the two clients can be compared on one server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hello::hello::hello_client::HelloClient;
use hello::hello::HelloRequest;
use tern_bench::{own_cpu_seconds, report, windows, LoadArgs};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = LoadArgs::from_env()?;
    let mut clients = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        clients.push(HelloClient::connect(&args.target).await?);
    }
    let (warm, end) = windows(args.duration);
    let calls = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..args.in_flight)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let (calls, failed) = (calls.clone(), failed.clone());
            tokio::spawn(async move {
                loop {
                    let request = HelloRequest {
                        name: "world".into(),
                        age: 18,
                    };
                    let result = client.say_hello(request).await;
                    let now = Instant::now();
                    if now >= end {
                        break;
                    }
                    if now >= warm {
                        match result {
                            Ok(_) => calls.fetch_add(1, Ordering::Relaxed),
                            Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep_until(warm.into()).await;
    let cpu = own_cpu_seconds();
    tokio::time::sleep_until(end.into()).await;
    let cpu = own_cpu_seconds() - cpu;
    for worker in workers {
        worker.await?;
    }
    let failed = failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} calls failed").into());
    }
    report(calls.load(Ordering::Relaxed), end - warm, cpu);
    Ok(())
}
