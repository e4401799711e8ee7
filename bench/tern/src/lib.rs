//! Tern's side of the side-by-side benchmark (bench/run.py): the `tern.bench.Streams` service,
//! and what the load programs share (a fixed-length run and their own CPU time).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream;
use tern::{Request, Response, Status, Streaming};

/// The `tern.bench` proto package.
#[allow(missing_docs, unreachable_pub)]
pub mod pb {
    tern::include_proto!("tern.bench");
}

use pb::streams_server::Streams;
use pb::{Chunk, DownloadRequest};

/// Serves `Download` and `Echo` as every implementation in bench/servers does.
#[derive(Debug, Default)]
pub struct StreamsService;

/// `count` copies of one chunk.
#[derive(Debug)]
pub struct Chunks {
    chunk: Chunk,
    left: u32,
}

impl Stream for Chunks {
    type Item = Result<Chunk, Status>;

    fn poll_next(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(self.chunk.clone())))
    }
}

impl Streams for StreamsService {
    async fn download(
        &self,
        request: Request<DownloadRequest>,
    ) -> Result<Response<impl Stream<Item = Result<Chunk, Status>> + Send>, Status> {
        let DownloadRequest { count, size } = request.into_inner();
        let size = usize::try_from(size).map_err(|_| Status::invalid_argument("size too big"))?;
        Ok(Response::new(Chunks {
            chunk: Chunk {
                data: vec![0; size],
            },
            left: count,
        }))
    }

    async fn echo(
        &self,
        request: Request<Streaming<Chunk>>,
    ) -> Result<Response<impl Stream<Item = Result<Chunk, Status>> + Send>, Status> {
        // The request stream is already a stream of chunks: answering it with itself echoes
        // every message as it arrives.
        Ok(Response::new(request.into_inner()))
    }
}

/// User plus system CPU seconds of this process, from /proc (Linux).
pub fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let Some((_, fields)) = stat.rsplit_once(')') else {
        return f64::NAN;
    };
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        // USER_HZ is 100 on every Linux this runs on.
        (Some(user), Some(system)) => (user + system) / 100.0,
        _ => f64::NAN,
    }
}

/// The arguments every load program takes: `ADDR CONNECTIONS IN_FLIGHT SECONDS`.
#[derive(Debug, Clone)]
pub struct LoadArgs {
    /// `http://host:port`.
    pub target: String,
    /// Connections to spread the calls over.
    pub connections: usize,
    /// Calls in flight, in total.
    pub in_flight: usize,
    /// Measured time, after one second of warm-up.
    pub duration: Duration,
}

impl LoadArgs {
    /// Reads the arguments from the command line.
    pub fn from_env() -> Result<LoadArgs, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let [addr, connections, in_flight, seconds] = args.as_slice() else {
            return Err("usage: ADDR CONNECTIONS IN_FLIGHT SECONDS".into());
        };
        let number = |s: &str| s.parse::<u64>().map_err(|e| format!("{s}: {e}"));
        Ok(LoadArgs {
            target: format!("http://{addr}"),
            connections: number(connections)?.max(1) as usize,
            in_flight: number(in_flight)?.max(1) as usize,
            duration: Duration::from_secs(number(seconds)?),
        })
    }
}

/// What a load program prints: one JSON line.
pub fn report(calls: u64, elapsed: Duration, cpu_seconds: f64) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{{\"calls\": {calls}, \"seconds\": {secs:.3}, \"calls_per_second\": {:.1}, \"client_cpu_us_per_call\": {:.3}}}",
        calls as f64 / secs,
        cpu_seconds / calls.max(1) as f64 * 1e6
    );
}

/// When the warm-up ends and when the measured window ends.
pub fn windows(duration: Duration) -> (Instant, Instant) {
    let warm = Instant::now() + Duration::from_secs(1);
    (warm, warm + duration)
}
