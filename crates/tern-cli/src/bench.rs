//! `tern bench`: a load generator for any gRPC server. The request is encoded once, up front,
//! and sent as shared bytes on every call; responses are counted, not decoded; so the generator
//! itself stays cheap, and says how cheap (its own CPU time per call).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use hdrhistogram::Histogram;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tern::client::Client;
use tern::codec::Codec;
use tern::codegen::PathAndQuery;
use tern::{Code, Request, Status};

use crate::{schema, Failure};

/// What to run.
pub(crate) struct Plan {
    pub(crate) addr: crate::Target,
    pub(crate) method: String,
    pub(crate) data: Option<String>,
    pub(crate) data_bin: Option<String>,
    pub(crate) protos: Vec<String>,
    pub(crate) includes: Vec<String>,
    pub(crate) connections: usize,
    pub(crate) concurrency: usize,
    pub(crate) total: Option<u64>,
    pub(crate) duration: Option<Duration>,
    pub(crate) warmup: Duration,
    pub(crate) rps: Option<f64>,
    pub(crate) stream_messages: usize,
    pub(crate) json: bool,
}

/// Messages as bytes both ways: the request was encoded once, the responses are not decoded.
#[derive(Clone, Copy)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;

    fn encoded_len(&self, message: &Bytes) -> usize {
        message.len()
    }

    fn encode(&self, message: &Bytes, buf: &mut BytesMut) -> Result<(), Status> {
        buf.put_slice(message);
        Ok(())
    }

    fn decode(&self, payload: Bytes) -> Result<Bytes, Status> {
        Ok(payload)
    }
}

/// Three significant digits is always a valid precision: this cannot happen.
fn unreachable_histogram() -> Histogram<u64> {
    Histogram::new_with_max(u64::MAX / 2, 2).unwrap_or_else(|_| std::process::abort())
}

/// What one worker saw.
struct Tally {
    latency: Histogram<u64>,
    errors: BTreeMap<&'static str, u64>,
    messages: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            // 1 µs to 60 s at 3 significant digits.
            latency: Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()),
            errors: BTreeMap::new(),
            messages: 0,
        }
    }
}

fn own_cpu_seconds() -> f64 {
    // utime and stime, fields 14 and 15 of /proc/self/stat, in clock ticks (100 per second on
    // Linux, which is all that has /proc).
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
        return f64::NAN;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (ticks(11) + ticks(12)) / 100.0
}

async fn request_bytes(plan: &Plan, method: &MethodDescriptor) -> Result<Bytes, Failure> {
    if let Some(path) = &plan.data_bin {
        return tokio::fs::read(path)
            .await
            .map(Bytes::from)
            .map_err(|e| Failure::usage(format!("cannot read {path}: {e}")));
    }
    let text = crate::call::request_text(plan.data.as_deref()).await?;
    let message = match text {
        Some(text) => {
            let value: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| Failure::usage(format!("malformed JSON: {e}")))?;
            DynamicMessage::deserialize(method.input(), value).map_err(|e| {
                Failure::usage(format!(
                    "invalid request for {}: {e}",
                    method.input().full_name()
                ))
            })?
        }
        None => DynamicMessage::new(method.input()),
    };
    Ok(Bytes::from(message.encode_to_vec()))
}

/// A stream of `n` copies of one encoded message.
struct Repeat {
    message: Bytes,
    left: usize,
}

impl futures_core::Stream for Repeat {
    type Item = Bytes;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        self.left -= 1;
        std::task::Poll::Ready(Some(self.message.clone()))
    }
}

/// One call of whatever shape the method has; returns the messages it received.
async fn one_call(
    client: &Client,
    path: &PathAndQuery,
    method: &MethodDescriptor,
    message: &Bytes,
    stream_messages: usize,
) -> Result<u64, Status> {
    match (method.is_client_streaming(), method.is_server_streaming()) {
        (false, false) => {
            client
                .unary(path.clone(), Request::new(message.clone()), RawCodec)
                .await?;
            Ok(1)
        }
        (false, true) => {
            let mut replies = client
                .server_streaming(path.clone(), Request::new(message.clone()), RawCodec)
                .await?
                .into_inner();
            let mut n = 0;
            while replies.message().await?.is_some() {
                n += 1;
            }
            Ok(n)
        }
        (true, false) => {
            let requests = Repeat {
                message: message.clone(),
                left: stream_messages,
            };
            client
                .client_streaming(path.clone(), Request::new(requests), RawCodec)
                .await?;
            Ok(1)
        }
        (true, true) => {
            // Ping-pong: each request waits for the previous answer.
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let mut replies = client
                .streaming(path.clone(), Request::new(Feed(rx)), RawCodec)
                .await?
                .into_inner();
            let mut n = 0;
            for _ in 0..stream_messages {
                if tx.send(message.clone()).await.is_err() {
                    break;
                }
                match replies.message().await? {
                    Some(_) => n += 1,
                    None => break,
                }
            }
            drop(tx);
            while replies.message().await?.is_some() {
                n += 1;
            }
            Ok(n)
        }
    }
}

struct Feed(tokio::sync::mpsc::Receiver<Bytes>);

impl futures_core::Stream for Feed {
    type Item = Bytes;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Bytes>> {
        self.0.poll_recv(cx)
    }
}

fn code_name(code: Code) -> &'static str {
    code.name()
}

/// Runs the plan and prints the summary.
pub(crate) async fn run(plan: Plan) -> Result<(), Failure> {
    if plan.connections == 0 || plan.concurrency == 0 {
        return Err(Failure::usage(
            "--connections and --concurrency must be at least 1",
        ));
    }
    let first = crate::connect(&plan.addr).await?;
    let pool = if plan.protos.is_empty() {
        let (service, _) = schema::split_method(&plan.method)?;
        schema::pool_for_symbol(&first, service).await?
    } else {
        schema::from_protos(&plan.protos, &plan.includes)?
    };
    let method = schema::method(&pool, &plan.method)?;
    let message = request_bytes(&plan, &method).await?;
    let path = PathAndQuery::try_from(format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    ))
    .map_err(|e| Failure::usage(format!("invalid method path: {e}")))?;

    let mut channels = vec![first];
    for _ in 1..plan.connections {
        channels.push(crate::connect(&plan.addr).await?);
    }
    let clients: Vec<Client> = channels.into_iter().map(Client::new).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let warmup_end = Instant::now() + plan.warmup;
    let total = plan.total;
    let per_worker_interval = plan
        .rps
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(plan.concurrency as f64 / r));

    let progress = indicatif::ProgressBar::new(total.unwrap_or(0));
    progress.set_style(
        indicatif::ProgressStyle::with_template(if total.is_some() {
            "{elapsed_precise} [{bar:40}] {pos}/{len} calls ({per_sec})"
        } else {
            "{elapsed_precise} {pos} calls ({per_sec})"
        })
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    if plan.json {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }

    let cpu_before = own_cpu_seconds();
    let run_start = Instant::now();
    let workers: Vec<_> = (0..plan.concurrency)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let (path, method, message) = (path.clone(), method.clone(), message.clone());
            let (stop, started, done) = (stop.clone(), started.clone(), done.clone());
            let progress = progress.clone();
            let stream_messages = plan.stream_messages;
            tokio::spawn(async move {
                let mut tally = Tally::new();
                let mut ticker = per_worker_interval.map(tokio::time::interval);
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if let Some(total) = total {
                        if started.fetch_add(1, Ordering::Relaxed) >= total {
                            break;
                        }
                    }
                    if let Some(ticker) = ticker.as_mut() {
                        ticker.tick().await;
                    }
                    let begin = Instant::now();
                    let result = one_call(&client, &path, &method, &message, stream_messages).await;
                    if begin < warmup_end && total.is_none() {
                        continue;
                    }
                    let micros = u64::try_from(begin.elapsed().as_micros()).unwrap_or(u64::MAX);
                    match result {
                        Ok(messages) => {
                            let _ = tally.latency.record(micros.max(1));
                            tally.messages += messages;
                        }
                        Err(status) => {
                            *tally.errors.entry(code_name(status.code())).or_default() += 1
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                    progress.inc(1);
                }
                tally
            })
        })
        .collect();

    // With -n every call counts; with a duration, calls started during the warm-up do not.
    let measure_start = match total {
        Some(_) => run_start,
        None => {
            tokio::time::sleep_until(warmup_end.into()).await;
            let start = Instant::now();
            tokio::time::sleep(plan.duration.unwrap_or(Duration::from_secs(10))).await;
            stop.store(true, Ordering::Relaxed);
            start
        }
    };
    let mut latency = Tally::new();
    for worker in workers {
        let tally = worker
            .await
            .map_err(|e| Failure::usage(format!("a worker failed: {e}")))?;
        let _ = latency.latency.add(&tally.latency);
        latency.messages += tally.messages;
        for (code, n) in tally.errors {
            *latency.errors.entry(code).or_default() += n;
        }
    }
    progress.finish_and_clear();
    let elapsed = measure_start.elapsed().as_secs_f64();
    let cpu = own_cpu_seconds() - cpu_before;
    report(&plan, &latency, elapsed, cpu);
    Ok(())
}

fn report(plan: &Plan, tally: &Tally, elapsed: f64, cpu: f64) {
    let h = &tally.latency;
    let ok = h.len();
    let errors: u64 = tally.errors.values().sum();
    let calls = ok + errors;
    let rate = calls as f64 / elapsed;
    let us = |q: f64| h.value_at_quantile(q);
    let cpu_per_call = if calls > 0 {
        cpu / calls as f64 * 1e6
    } else {
        f64::NAN
    };
    if plan.json {
        let value = serde_json::json!({
            "method": plan.method,
            "connections": plan.connections,
            "concurrency": plan.concurrency,
            "seconds": elapsed,
            "calls": calls,
            "ok": ok,
            "errors": tally.errors,
            "calls_per_second": rate,
            "messages": tally.messages,
            "latency_us": {
                "min": h.min(), "mean": h.mean(), "p50": us(0.5), "p90": us(0.9),
                "p99": us(0.99), "p999": us(0.999), "max": h.max(),
            },
            "client_cpu_us_per_call": cpu_per_call,
        });
        println!("{value}");
        return;
    }
    println!("Summary:");
    println!("  calls:        {calls} in {elapsed:.2} s ({ok} ok, {errors} failed)");
    println!("  rate:         {rate:.0} calls/s");
    if tally.messages != ok {
        println!(
            "  messages:     {} ({:.0}/s)",
            tally.messages,
            tally.messages as f64 / elapsed
        );
    }
    println!(
        "  latency:      min {} us, mean {:.0} us, max {} us",
        h.min(),
        h.mean(),
        h.max()
    );
    println!(
        "  percentiles:  p50 {} us, p90 {} us, p99 {} us, p99.9 {} us",
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999)
    );
    println!("  tern's own CPU: {cpu_per_call:.2} us per call");
    if ok > 0 {
        println!("Latency histogram:");
        let max = h.max().max(1);
        let mut edge = 1u64;
        let mut previous = 0u64;
        while previous < max {
            let upper = edge.min(max);
            let count = h.count_between(previous + 1, upper);
            if count > 0 {
                let width = (count * 40).checked_div(ok).unwrap_or(0).max(1);
                let bar = "#".repeat(usize::try_from(width).unwrap_or(40));
                println!("  {:>9} us  {count:>9}  {bar}", upper);
            }
            previous = upper;
            edge = edge.saturating_mul(2);
        }
    }
    if !tally.errors.is_empty() {
        println!("Errors:");
        for (code, n) in &tally.errors {
            println!("  {code}: {n}");
        }
    }
}
