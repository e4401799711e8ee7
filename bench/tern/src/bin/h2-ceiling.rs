//! The ceiling of any gRPC server built on the `h2` crate: answers every request on h2 with the
//! Hello reply's bytes and an OK status, after reading the request body, and does nothing else
//! (no routing, no decoding, no deadline). Like Tern, it lets the ready calls queue their
//! responses before the connection writes (Tern's `DeferredFlush`); unlike Tern, it writes
//! through h2's own buffering, which only matters for large messages.
//! bench/run.py runs it beside Tern to show how much of a call's cost is h2's own:
//! `h2-ceiling ADDR`.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use bytes::Bytes;
use http::{HeaderValue, Response};

/// `HelloReply { message: "hello world 18" }`, framed.
const REPLY: &[u8] = b"\0\0\0\0\x10\x0a\x0ehello world 18";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    loop {
        let (socket, _) = listener.accept().await?;
        let _ = socket.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut connection) = h2::server::handshake(socket).await else {
                return;
            };
            let mut yielded = false;
            loop {
                let next = poll_fn(|cx| {
                    if !yielded {
                        yielded = true;
                        if pin!(tokio::task::yield_now()).poll(cx).is_pending() {
                            return Poll::Pending;
                        }
                    }
                    let polled = connection.poll_accept(cx);
                    yielded = !polled.is_pending();
                    polled
                })
                .await;
                let Some(Ok((request, respond))) = next else {
                    return;
                };
                tokio::spawn(answer(request.into_body(), respond));
            }
        });
    }
}

async fn answer(mut body: h2::RecvStream, mut respond: h2::server::SendResponse<Bytes>) {
    while let Some(Ok(data)) = body.data().await {
        let _ = body.flow_control().release_capacity(data.len());
    }
    let mut head = Response::new(());
    head.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    let Ok(mut send) = respond.send_response(head, false) else {
        return;
    };
    if send.send_data(Bytes::from_static(REPLY), false).is_err() {
        return;
    }
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let _ = send.send_trailers(trailers);
}
