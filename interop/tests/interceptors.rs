//! Tern's client interceptors against grpc-go's interop server: metadata an interceptor adds
//! reaches the server (which echoes `x-grpc-test-echo-initial` into its response headers and
//! `x-grpc-test-echo-trailing-bin` into its trailers), and the interceptor's observer sees
//! those echoes come back, on a unary and a bidi call. The peer is installed by
//! interop/peers/install.sh; its directory comes in TERN_PEERS.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tern::interceptor::{CallObserver, ClientInterceptor, Message, OutgoingCall};
use tern::{Channel, Metadata, Status};
use tern_interop::pb::test_service_client::TestServiceClient;
use tern_interop::pb::{Payload, SimpleRequest, StreamingOutputCallRequest};

const INITIAL_VALUE: &str = "set-by-a-tern-interceptor";
const TRAILING_VALUE: &[u8] = &[0xde, 0xad, 0x00, 0xbe, 0xef];

/// What the observer saw of each call.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

struct EchoMetadata(Seen);

struct Observer(Seen);

impl ClientInterceptor for EchoMetadata {
    type Observer = Observer;

    async fn intercept(&self, call: &mut OutgoingCall<'_>) -> Result<Observer, Status> {
        call.metadata_mut()
            .insert("x-grpc-test-echo-initial", INITIAL_VALUE)?;
        call.metadata_mut()
            .insert_bin("x-grpc-test-echo-trailing-bin", TRAILING_VALUE)?;
        Ok(Observer(self.0.clone()))
    }
}

impl CallObserver for Observer {
    fn on_request(&mut self, message: &Message<'_>) {
        self.0
             .0
            .lock()
            .unwrap()
            .push(format!("request {}", message.wire_size()));
    }

    fn on_response_headers(&mut self, headers: &Metadata) {
        let echoed = headers.get("x-grpc-test-echo-initial").unwrap_or("-");
        self.0 .0.lock().unwrap().push(format!("headers {echoed}"));
    }

    fn on_response(&mut self, message: &Message<'_>) {
        self.0
             .0
            .lock()
            .unwrap()
            .push(format!("response {}", message.wire_size()));
    }

    fn on_finish(&mut self, status: &Status, trailers: &mut Metadata) {
        let echoed = trailers
            .get_bin("x-grpc-test-echo-trailing-bin")
            .and_then(Result::ok)
            .unwrap_or_default();
        self.0
             .0
            .lock()
            .unwrap()
            .push(format!("finish {} {echoed:02x?}", status.code().name()));
    }
}

fn peers() -> PathBuf {
    std::env::var_os("TERN_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.peers/bin")))
}

/// Runs grpc-go's interop server on a free loopback port; killed when the child is dropped.
async fn go_server() -> (tokio::process::Child, u16) {
    let binary = peers().join("go-interop-server");
    assert!(
        binary.exists(),
        "no {}: run interop/peers/install.sh (scripts/test.sh does)",
        binary.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = tokio::process::Command::new(binary)
        .arg(format!("--port={port}"))
        .kill_on_drop(true)
        .spawn()
        .expect("start go-interop-server");
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return (child, port);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("go-interop-server did not listen on port {port}");
}

#[tokio::test]
async fn metadata_a_client_interceptor_adds_reaches_grpc_go_and_its_echo_is_observed() {
    let (_server, port) = go_server().await;
    let seen = Seen::default();
    let channel = Channel::builder(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .intercept(EchoMetadata(seen.clone()))
        .connect()
        .await
        .unwrap();
    let client = TestServiceClient::new(channel);

    let request = SimpleRequest {
        response_size: 10,
        payload: Some(Payload {
            body: vec![0; 20],
            ..Default::default()
        }),
        ..Default::default()
    };
    let response = client.unary_call(request.clone()).await.unwrap();
    assert_eq!(response.get_ref().payload.as_ref().unwrap().body.len(), 10);
    assert_eq!(
        response.metadata().get("x-grpc-test-echo-initial"),
        Some(INITIAL_VALUE)
    );
    let events = std::mem::take(&mut *seen.0.lock().unwrap());
    use tern::codegen::prost::Message as _;
    assert_eq!(
        events,
        [
            format!("request {}", request.encoded_len()),
            format!("headers {INITIAL_VALUE}"),
            format!("response {}", response.get_ref().encoded_len()),
            format!("finish OK {TRAILING_VALUE:02x?}"),
        ]
    );

    // Bidi: the same on a stream, with each message seen.
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let requests = Receiver(rx);
    let mut replies = client
        .full_duplex_call(requests)
        .await
        .unwrap()
        .into_inner();
    for size in [3, 5] {
        let request = StreamingOutputCallRequest {
            response_parameters: vec![tern_interop::pb::ResponseParameters {
                size,
                ..Default::default()
            }],
            ..Default::default()
        };
        tx.send(request).await.unwrap();
        let reply = replies.message().await.unwrap().unwrap();
        assert_eq!(reply.payload.unwrap().body.len(), size as usize);
    }
    drop(tx);
    assert!(replies.message().await.unwrap().is_none());
    let events = std::mem::take(&mut *seen.0.lock().unwrap());
    assert_eq!(
        events.iter().filter(|e| e.starts_with("request")).count(),
        2
    );
    assert_eq!(
        events.iter().filter(|e| e.starts_with("response")).count(),
        2
    );
    assert!(
        events.contains(&format!("headers {INITIAL_VALUE}")),
        "{events:?}"
    );
    assert_eq!(
        events.last().unwrap(),
        &format!("finish OK {TRAILING_VALUE:02x?}")
    );
}

struct Receiver<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for Receiver<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
