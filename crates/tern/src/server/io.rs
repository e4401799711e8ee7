//! The first bytes of a connection: the HTTP/2 client preface, checked before the HTTP/2 engine
//! sees anything, so that an HTTP/1.1 client gets a plain refusal instead of a hung connection.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const REFUSAL_BODY: &str = "this is a gRPC server: it speaks HTTP/2 (h2c) only\r\n";

fn refusal() -> String {
    format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{REFUSAL_BODY}",
        REFUSAL_BODY.len()
    )
}

/// A connection whose preface has been read and is replayed to the HTTP/2 engine.
#[derive(Debug)]
pub(crate) struct Prefaced<IO> {
    replay: &'static [u8],
    inner: IO,
}

/// Reads the client preface; refuses anything else with an HTTP/1.1 505 and closes.
pub(crate) async fn read_preface<IO>(mut stream: IO, limit: Duration) -> io::Result<Prefaced<IO>>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut buf = [0u8; PREFACE.len()];
    let mut filled = 0;
    let read = async {
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
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not an HTTP/2 client preface (an HTTP/1 client?)",
                ));
            }
        }
        Ok(())
    };
    let result = tokio::time::timeout(limit, read)
        .await
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "no HTTP/2 preface")));
    if let Err(e) = result {
        if e.kind() == io::ErrorKind::InvalidData {
            let _ = stream.write_all(refusal().as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        return Err(e);
    }
    Ok(Prefaced {
        replay: PREFACE,
        inner: stream,
    })
}

impl<IO: AsyncRead + Unpin> AsyncRead for Prefaced<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.replay.is_empty() {
            let n = self.replay.len().min(buf.remaining());
            let (now, later) = self.replay.split_at(n);
            buf.put_slice(now);
            self.replay = later;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Prefaced<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
