//! The benchmark's services on tonic, answering as Tern's servers do (bench/tern).

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio_stream::Stream;
use tonic::{Request, Response, Status, Streaming};

pub mod hello {
    tonic::include_proto!("hello");
}

pub mod bench {
    tonic::include_proto!("tern.bench");
}

use bench::{Chunk, DownloadRequest};
use hello::{HelloReply, HelloRequest};

#[derive(Default)]
pub struct Greeter;

#[tonic::async_trait]
impl hello::hello_server::Hello for Greeter {
    async fn say_hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloReply>, Status> {
        let HelloRequest { name, age } = request.into_inner();
        Ok(Response::new(HelloReply {
            message: format!("hello {name} {age}"),
        }))
    }
}

/// `count` copies of one chunk.
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

#[derive(Default)]
pub struct StreamsService;

#[tonic::async_trait]
impl bench::streams_server::Streams for StreamsService {
    type DownloadStream = Chunks;
    type EchoStream = Streaming<Chunk>;

    async fn download(&self, request: Request<DownloadRequest>) -> Result<Response<Chunks>, Status> {
        let DownloadRequest { count, size } = request.into_inner();
        Ok(Response::new(Chunks {
            chunk: Chunk { data: vec![0; size as usize] },
            left: count,
        }))
    }

    async fn echo(
        &self,
        request: Request<Streaming<Chunk>>,
    ) -> Result<Response<Streaming<Chunk>>, Status> {
        Ok(Response::new(request.into_inner()))
    }
}

/// User plus system CPU seconds of this process, from /proc (Linux, USER_HZ 100).
pub fn own_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, f)| f).unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (ticks(11) + ticks(12)) / 100.0
}
