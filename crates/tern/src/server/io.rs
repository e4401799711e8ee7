//! The first bytes of a connection: the HTTP/2 client preface, checked before the HTTP/2 engine
//! sees anything, so that an HTTP/1.1 client gets a plain refusal instead of a hung connection.

use std::io;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::rewind::Rewind;

pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const REFUSAL_BODY: &str = "this is a gRPC server: it speaks HTTP/2 (h2c) only\r\n";

fn refusal() -> String {
    format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    )
}

/// A connection whose preface has been read and is replayed to the HTTP/2 engine.
pub(crate) type Prefaced<IO> = Rewind<IO>;

/// Reads the client preface; refuses anything else with an HTTP/1.1 505 and closes. The caller
/// bounds the time this may take. With `only_http1`, a first line of text that is not an
/// HTTP/1 request line (ending in ` HTTP/1.0` or ` HTTP/1.1`) gets no 505, only the
/// connection closed, as RFC 9113 §3.4 asks of an invalid preface (h2spec 3.5/2).
pub(crate) async fn read_preface<IO>(mut stream: IO, only_http1: bool) -> io::Result<Prefaced<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = [0u8; PREFACE.len()];
    let mut filled = 0;
    while filled < PREFACE.len() {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed before the HTTP/2 preface",
            ));
        }
        filled += n;
        if buf[..filled] != PREFACE[..filled] {
            if !only_http1 || gets_refusal(&mut stream, &buf[..filled]).await {
                let _ = stream.write_all(refusal().as_bytes()).await;
            }
            let _ = stream.shutdown().await;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an HTTP/2 client preface (an HTTP/1 client?)",
            ));
        }
    }
    Ok(Rewind::new(Bytes::from_static(PREFACE), stream))
}

/// Whether what came (`first`, then the stream) gets the HTTP/1.1 505: binary bytes (a TLS
/// ClientHello, whose client then explains it met a cleartext port) and HTTP/1 request lines
/// do; a line of text that is no request line (within 1 KiB) does not.
async fn gets_refusal<IO: AsyncRead + Unpin>(stream: &mut IO, first: &[u8]) -> bool {
    let text = |bytes: &[u8]| {
        bytes
            .iter()
            .all(|&b| (0x20..0x7f).contains(&b) || b == b'\r' || b == b'\n')
    };
    let mut line = first.to_vec();
    let mut chunk = [0u8; 256];
    loop {
        if !text(&line) || line.len() >= 1024 {
            return true;
        }
        if let Some(end) = line.windows(2).position(|w| w == b"\r\n") {
            let line = &line[..end];
            return line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0");
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => line.extend_from_slice(&chunk[..n]),
        }
    }
}
