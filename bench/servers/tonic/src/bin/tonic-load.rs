//! Drives `hello.Hello/SayHello` with tonic's generated client, as bench/tern's `tern-load` does
//! with Tern's: `tonic-load ADDR CONNECTIONS IN_FLIGHT SECONDS`. Prints one JSON line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic_hello::hello::hello_client::HelloClient;
use tonic_hello::hello::HelloRequest;
use tonic_hello::own_cpu_seconds;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, connections, in_flight, seconds] = args.as_slice() else {
        return Err("usage: ADDR CONNECTIONS IN_FLIGHT SECONDS".into());
    };
    let connections: usize = connections.parse::<usize>()?.max(1);
    let in_flight: usize = in_flight.parse::<usize>()?.max(1);
    let duration = Duration::from_secs(seconds.parse()?);
    let mut clients = Vec::new();
    for _ in 0..connections {
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        clients.push(HelloClient::new(channel));
    }
    let warm = Instant::now() + Duration::from_secs(1);
    let end = warm + duration;
    let calls = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..in_flight)
        .map(|i| {
            let mut client = clients[i % clients.len()].clone();
            let (calls, failed) = (calls.clone(), failed.clone());
            tokio::spawn(async move {
                loop {
                    let request = HelloRequest { name: "world".into(), age: 18 };
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
    let calls = calls.load(Ordering::Relaxed);
    let secs = duration.as_secs_f64();
    println!(
        "{{\"calls\": {calls}, \"seconds\": {secs:.3}, \"calls_per_second\": {:.1}, \"client_cpu_us_per_call\": {:.3}}}",
        calls as f64 / secs,
        cpu / calls.max(1) as f64 * 1e6
    );
    Ok(())
}
