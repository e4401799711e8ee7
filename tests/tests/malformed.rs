//! Bad input at the HTTP/2 level, sent by a raw HTTP/2 client: each call gets the right status,
//! and the server goes on serving the next one.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Request, StatusCode};
use tern_tests::start_probe_server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came back for one raw request.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    trailers: Option<HeaderMap>,
}

impl Answer {
    /// `grpc-status`, from the trailers or, for a Trailers-Only answer, the headers.
    fn grpc_status(&self) -> Option<&str> {
        self.trailers
            .as_ref()
            .and_then(|t| t.get("grpc-status"))
            .or_else(|| self.headers.get("grpc-status"))
            .and_then(|v| v.to_str().ok())
    }

    fn grpc_message(&self) -> String {
        self.trailers
            .as_ref()
            .and_then(|t| t.get("grpc-message"))
            .or_else(|| self.headers.get("grpc-message"))
            .map(|v| v.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    }
}

fn framed(message: &[u8]) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(0);
    buf.put_u32(message.len() as u32);
    buf.extend_from_slice(message);
    buf.freeze()
}

/// An EchoRequest with `message` set (field 1) and `sleep_ms` (field 5), encoded by hand.
fn echo(message: &str, sleep_ms: u16) -> Vec<u8> {
    let mut out = vec![0x0a, message.len() as u8];
    out.extend_from_slice(message.as_bytes());
    if sleep_ms > 0 {
        out.push(0x28);
        let mut n = sleep_ms;
        while n >= 0x80 {
            out.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
    }
    out
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<Bytes>,
) -> Answer {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let mut request = Request::builder()
        .method(method)
        .uri(format!("http://{addr}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (response, mut stream) = client
        .send_request(request.body(()).unwrap(), false)
        .unwrap();
    let last = body.len().saturating_sub(1);
    if body.is_empty() {
        stream.send_data(Bytes::new(), true).unwrap();
    }
    for (i, chunk) in body.into_iter().enumerate() {
        stream.send_data(chunk, i == last).unwrap();
    }
    let response = response.await.unwrap();
    let (head, mut recv) = response.into_parts();
    let mut body = BytesMut::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk.unwrap();
        let _ = recv.flow_control().release_capacity(chunk.len());
        body.extend_from_slice(&chunk);
    }
    let trailers = recv.trailers().await.unwrap();
    Answer {
        status: head.status,
        headers: head.headers,
        body: body.freeze(),
        trailers,
    }
}

const GRPC: &[(&str, &str)] = &[("content-type", "application/grpc"), ("te", "trailers")];
const ECHO: &str = "/tern.probe.Probe/Echo";

async fn grpc(addr: SocketAddr, headers: &[(&str, &str)], body: Vec<Bytes>) -> Answer {
    let mut all = GRPC.to_vec();
    all.extend_from_slice(headers);
    send(addr, "POST", ECHO, &all, body).await
}

/// The server still answers a good call.
async fn still_serving(addr: SocketAddr) {
    let answer = grpc(addr, &[], vec![framed(&echo("alive", 0))]).await;
    assert_eq!(answer.grpc_status(), Some("0"), "{answer:?}");
    assert_eq!(&answer.body[..], &framed(&echo("alive", 0))[..]);
}

#[tokio::test]
async fn a_good_call_split_across_many_data_frames() {
    let addr = start_probe_server().await;
    let wire = framed(&echo("split into bytes", 0));
    let chunks = wire.chunks(1).map(Bytes::copy_from_slice).collect();
    let answer = grpc(addr, &[], chunks).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers["content-type"], "application/grpc");
    assert_eq!(answer.grpc_status(), Some("0"));
    assert_eq!(&answer.body[..], &framed(&echo("split into bytes", 0))[..]);
}

#[tokio::test]
async fn invalid_frame_flag_is_internal() {
    let addr = start_probe_server().await;
    let answer = grpc(addr, &[], vec![Bytes::from_static(b"\x07\x00\x00\x00\x00")]).await;
    assert_eq!(answer.grpc_status(), Some("13"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn frame_longer_than_the_stream_is_internal() {
    let addr = start_probe_server().await;
    let answer = grpc(
        addr,
        &[],
        vec![Bytes::from_static(b"\x00\x00\x00\x00\x10abc")],
    )
    .await;
    assert_eq!(answer.grpc_status(), Some("13"), "{answer:?}");
    assert!(
        answer.grpc_message().contains("ended inside a message"),
        "{answer:?}"
    );
    still_serving(addr).await;
}

#[tokio::test]
async fn bytes_that_are_not_a_message_are_internal() {
    let addr = start_probe_server().await;
    let answer = grpc(addr, &[], vec![framed(b"\xff\xff\xff\xff")]).await;
    assert_eq!(answer.grpc_status(), Some("13"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn missing_and_extra_unary_messages_are_internal() {
    let addr = start_probe_server().await;
    let answer = grpc(addr, &[], vec![]).await;
    assert_eq!(answer.grpc_status(), Some("13"), "{answer:?}");
    let two = vec![framed(&echo("a", 0)), framed(&echo("b", 0))];
    let answer = grpc(addr, &[], two).await;
    assert_eq!(answer.grpc_status(), Some("13"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn frame_prefix_over_the_limit_is_resource_exhausted_at_once() {
    let addr = start_probe_server().await;
    // Only the prefix is sent: the limit applies before the body is buffered.
    let answer = grpc(addr, &[], vec![Bytes::from_static(b"\x00\x7f\x00\x00\x00")]).await;
    assert_eq!(answer.grpc_status(), Some("8"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn compressed_flag_without_encoding_is_internal() {
    let addr = start_probe_server().await;
    let answer = grpc(addr, &[], vec![Bytes::from_static(b"\x01\x00\x00\x00\x00")]).await;
    assert_eq!(answer.grpc_status(), Some("13"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn unsupported_encoding_is_unimplemented() {
    let addr = start_probe_server().await;
    let answer = grpc(addr, &[("grpc-encoding", "snappy")], vec![framed(b"")]).await;
    assert_eq!(answer.grpc_status(), Some("12"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn malformed_grpc_timeout_is_internal() {
    let addr = start_probe_server().await;
    for bad in ["soon", "123456789S", "10x", "S"] {
        let answer = grpc(addr, &[("grpc-timeout", bad)], vec![framed(&echo("x", 0))]).await;
        assert_eq!(answer.grpc_status(), Some("13"), "{bad}: {answer:?}");
        assert!(answer.grpc_message().contains("grpc-timeout"), "{answer:?}");
    }
    still_serving(addr).await;
}

#[tokio::test]
async fn server_enforces_grpc_timeout() {
    let addr = start_probe_server().await;
    // The handler sleeps 250 ms; the caller allows 50 ms and never gives up on its own.
    let answer = grpc(
        addr,
        &[("grpc-timeout", "50m")],
        vec![framed(&echo("slow", 250))],
    )
    .await;
    assert_eq!(answer.grpc_status(), Some("4"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn non_grpc_requests_get_http_errors() {
    let addr = start_probe_server().await;
    let answer = send(addr, "GET", ECHO, GRPC, vec![]).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    let answer = send(
        addr,
        "POST",
        ECHO,
        &[("content-type", "application/json")],
        vec![],
    )
    .await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    still_serving(addr).await;
}

#[tokio::test]
async fn http1_request_is_refused_cleanly() {
    let addr = start_probe_server().await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    // The server answers and closes: read_to_string ends instead of hanging.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_string(&mut answer),
    )
    .await
    .expect("the server closed the connection")
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 505 "), "{answer}");
    still_serving(addr).await;
}

#[tokio::test]
async fn binary_metadata_that_is_not_base64_is_internal() {
    let addr = start_probe_server().await;
    let answer = grpc(
        addr,
        &[("x-trace-bin", "not base64!")],
        vec![framed(&echo("x", 0))],
    )
    .await;
    assert_eq!(answer.grpc_status(), Some("13"), "{answer:?}");
    assert!(answer.grpc_message().contains("x-trace-bin"), "{answer:?}");
    still_serving(addr).await;
}

#[tokio::test]
async fn header_block_over_the_limit_is_refused() {
    let addr = start_probe_server().await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(connection);
    let mut client = client.ready().await.unwrap();
    let huge = "x".repeat(64 * 1024);
    let request = Request::builder()
        .method("POST")
        .uri(format!("http://{addr}{ECHO}"))
        .header("content-type", "application/grpc")
        .header("x-huge", huge.as_str())
        .body(())
        .unwrap();
    let outcome = match client.send_request(request, true) {
        Ok((response, _)) => match response.await {
            Ok(response) => Ok(response.status()),
            Err(e) => Err(e.to_string()),
        },
        Err(e) => Err(e.to_string()),
    };
    // Refused at the HTTP/2 level (431 or a stream reset), never served and never hung.
    assert!(
        matches!(
            outcome,
            Ok(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE) | Err(_)
        ),
        "{outcome:?}"
    );
    still_serving(addr).await;
}

/// HPACK for a header that is not in the static table: literal, not indexed, new name.
fn literal(block: &mut Vec<u8>, name: &str, value: &str) {
    block.push(0x00);
    block.push(name.len() as u8);
    block.extend_from_slice(name.as_bytes());
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Reads frames until RST_STREAM on `stream`, GOAWAY, or the end of the connection.
async fn stream_or_connection_error(tcp: &mut TcpStream, stream: u32) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while buf.len() >= 9 {
            let len =
                (usize::from(buf[0]) << 16) | (usize::from(buf[1]) << 8) | usize::from(buf[2]);
            if buf.len() < 9 + len {
                break;
            }
            let id = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]) & 0x7fff_ffff;
            match buf[3] {
                0x3 if id == stream => return,
                0x7 => return,
                _ => {}
            }
            buf.drain(..9 + len);
        }
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test]
async fn data_after_end_stream_is_a_protocol_error_for_that_client_only() {
    let addr = start_probe_server().await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    wire.extend(frame(0x4, 0, 0, &[]));
    // :method POST and :scheme http from the static table, then literals.
    let mut block = vec![0x83, 0x86];
    block.extend_from_slice(&[0x04, ECHO.len() as u8]);
    block.extend_from_slice(ECHO.as_bytes());
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"localhost");
    literal(&mut block, "content-type", "application/grpc");
    literal(&mut block, "te", "trailers");
    wire.extend(frame(0x1, 0x4, 1, &block));
    let message = framed(&echo("x", 0));
    wire.extend(frame(0x0, 0x1, 1, &message));
    // The stream is half-closed by END_STREAM; more DATA on it breaks the protocol.
    wire.extend(frame(0x0, 0x0, 1, &message));
    tcp.write_all(&wire).await.unwrap();
    // The server answers with RST_STREAM on the stream (Tern's engine: a stream error, the
    // connection lives on) or GOAWAY and closes (h2); it must not hang.
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream_or_connection_error(&mut tcp, 1),
    )
    .await
    .expect("the server answered the misbehaving stream");
    still_serving(addr).await;
}
