//! The probe service that the cross-process tests run: every method shape, and handlers that
//! fail, panic or stall when asked to.

use std::net::SocketAddr;
use std::time::Duration;

use futures_core::Stream;
use tern::{Code, Request, Response, Status, Streaming};

/// The `tern.probe` proto package.
#[allow(missing_docs, unreachable_pub)]
pub mod probe {
    tern::include_proto!("tern.probe");
}

/// The descriptors of probe.proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tern::include_descriptor_set!();

use probe::probe_server::{Probe, ProbeServer};
use probe::{CountRequest, EchoReply, EchoRequest, Number};

/// The probe's handlers.
#[derive(Debug, Default)]
pub struct ProbeService;

/// Echo handlers running right now, across every probe server in the process: a cancelled
/// call's handler must be dropped, and this count shows it.
pub static HANDLERS_IN_FLIGHT: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

struct InFlight;

impl InFlight {
    fn new() -> InFlight {
        HANDLERS_IN_FLIGHT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        HANDLERS_IN_FLIGHT.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn echo(request: EchoRequest, probe_header: String) -> Result<EchoReply, Status> {
    let _in_flight = InFlight::new();
    if request.sleep_ms > 0 {
        tokio::time::sleep(Duration::from_millis(request.sleep_ms.into())).await;
    }
    if request.panic {
        panic!("the probe was asked to panic");
    }
    if request.fail_code != 0 {
        return Err(Status::with_details(
            Code::from_i32(request.fail_code),
            request.fail_message,
            request.fail_details.into(),
        ));
    }
    Ok(EchoReply {
        message: request.message,
        payload: request.payload,
        probe_header,
        ..EchoReply::default()
    })
}

/// A stream built from a generator-like state machine, so the tests need no stream crate.
struct Counter {
    next: u32,
    count: u32,
    fail_after: u32,
    panic_after: u32,
}

impl Stream for Counter {
    type Item = Result<EchoReply, Status>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let n = self.next;
        if self.panic_after != 0 && n == self.panic_after {
            panic!("probe stream panics after {n} replies");
        }
        if self.fail_after != 0 && n == self.fail_after {
            self.next = self.count;
            self.fail_after = 0;
            return std::task::Poll::Ready(Some(Err(Status::invalid_argument(format!(
                "failed after {n}"
            )))));
        }
        if n >= self.count {
            return std::task::Poll::Ready(None);
        }
        self.next += 1;
        std::task::Poll::Ready(Some(Ok(EchoReply {
            message: n.to_string(),
            ..EchoReply::default()
        })))
    }
}

impl Probe for ProbeService {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoReply>, Status> {
        let header = request
            .metadata()
            .get("x-probe")
            .unwrap_or_default()
            .to_owned();
        let tls = request.is_tls();
        let peer_certificate = request
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.to_vec())
            .unwrap_or_default();
        let tls_server_name = request.tls_server_name().unwrap_or_default().to_owned();
        let authorization = request
            .metadata()
            .get_all("authorization")
            .map(str::to_owned)
            .collect();
        let mut reply = echo(request.into_inner(), header).await?;
        reply.tls = tls;
        reply.peer_certificate = peer_certificate;
        reply.tls_server_name = tls_server_name;
        reply.authorization = authorization;
        let mut response = Response::new(reply);
        response.metadata_mut().insert("x-initial", "here").ok();
        response.trailers_mut().insert("x-trailing", "there").ok();
        Ok(response)
    }

    async fn count(
        &self,
        request: Request<CountRequest>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        let shutdown = request.shutdown_signal().cloned();
        let CountRequest {
            count,
            fail_after,
            panic_after,
        } = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        if count == 0 {
            // Count forever, until the connection drains; then end the stream cleanly.
            let shutdown = shutdown.ok_or_else(|| Status::internal("no shutdown signal"))?;
            tokio::spawn(async move {
                let mut n = 0u64;
                loop {
                    let reply = Ok(EchoReply {
                        message: n.to_string(),
                        ..EchoReply::default()
                    });
                    tokio::select! {
                        () = shutdown.draining() => return,
                        sent = tx.send(reply) => if sent.is_err() { return },
                    }
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            });
            return Ok(Response::new(Either::Forever(ReceiverStream(rx))));
        }
        Ok(Response::new(Either::Counted(Counter {
            next: 0,
            count,
            fail_after,
            panic_after,
        })))
    }

    async fn sum(&self, request: Request<Streaming<Number>>) -> Result<Response<Number>, Status> {
        let mut numbers = request.into_inner();
        let mut value = 0;
        while let Some(number) = numbers.message().await? {
            value += number.value;
        }
        Ok(Response::new(Number { value }))
    }

    async fn chat(
        &self,
        request: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<impl Stream<Item = Result<EchoReply, Status>> + Send>, Status> {
        let mut requests = request.into_inner();
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            loop {
                let reply = match requests.message().await {
                    // Stop working for a caller that has gone.
                    Ok(Some(request)) => tokio::select! {
                        reply = echo(request, String::new()) => reply,
                        () = tx.closed() => break,
                    },
                    Ok(None) => break,
                    Err(status) => Err(status),
                };
                let failed = reply.is_err();
                if tx.send(reply).await.is_err() || failed {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream(rx)))
    }
}

/// One of two response streams, chosen per call.
enum Either {
    Counted(Counter),
    Forever(ReceiverStream<Result<EchoReply, Status>>),
}

impl Stream for Either {
    type Item = Result<EchoReply, Status>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        match self.get_mut() {
            Either::Counted(s) => std::pin::Pin::new(s).poll_next(cx),
            Either::Forever(s) => std::pin::Pin::new(s).poll_next(cx),
        }
    }
}

/// The items of a queue as a stream that is always ready: a request stream for tests.
#[derive(Debug)]
pub struct Items<T>(pub std::collections::VecDeque<T>);

impl<T: Unpin> Stream for Items<T> {
    type Item = T;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        std::task::Poll::Ready(self.0.pop_front())
    }
}

/// An mpsc receiver as a stream.
#[derive(Debug)]
pub struct ReceiverStream<T>(pub tokio::sync::mpsc::Receiver<T>);

impl<T> Stream for ReceiverStream<T> {
    type Item = T;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// A probe server on a free loopback port, with a small receive limit to test it.
pub async fn start_probe_server() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        tern::Server::builder()
            .max_decoding_message_size(PROBE_RECEIVE_LIMIT)
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending())
            .await
    });
    addr
}

/// The probe server's receive limit.
pub const PROBE_RECEIVE_LIMIT: usize = 1024 * 1024;

pub mod pki;

#[path = "../support/python.rs"]
mod support;
pub use support::python;
