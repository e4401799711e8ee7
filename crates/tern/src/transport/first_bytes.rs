//! The first bytes a server sends on a new client connection, kept so that the client can tell
//! that the server speaks HTTP/2 (its first frame is SETTINGS) before it calls the connection
//! ready, and can say what the server speaks instead when it does not: TLS to a cleartext
//! client, HTTP/1, a GOAWAY with a reason, or nothing at all. gRPC clients call this waiting for
//! the server preface; without it, those mistakes surface as a bare error on the first call.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// How much of the start is kept: room for SETTINGS and a GOAWAY with its reason.
const KEPT: usize = 512;

/// What a connection has received so far, shared between its reader and the dialer.
#[derive(Debug, Default)]
pub(crate) struct FirstBytes {
    state: Mutex<Seen>,
    changed: Notify,
}

#[derive(Debug, Default)]
struct Seen {
    bytes: Vec<u8>,
    /// The stream ended or failed.
    ended: bool,
    /// Why reading failed, if it did: kept here because h2 passes on only the error's text.
    error: Option<String>,
    /// The stream ended with no reason given: a plain close, or a TLS stream cut without its
    /// close_notify.
    silent: bool,
}

impl FirstBytes {
    /// Resolves once the first frame has arrived whole, or the stream has ended.
    pub(crate) async fn first_frame(&self) {
        loop {
            let notified = self.changed.notified();
            {
                let seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if seen.ended || first_frame_len(&seen.bytes).is_some_and(|n| seen.bytes.len() >= n)
                {
                    return;
                }
            }
            notified.await;
        }
    }

    /// Whether what arrived is the start of HTTP/2; if not, what it is instead.
    pub(crate) fn problem(&self) -> Option<String> {
        let seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        explain(&seen.bytes, seen.ended)
    }

    /// Why reading from the server failed, when it did before anything arrived.
    pub(crate) fn read_error(&self) -> Option<String> {
        let seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        seen.error.clone()
    }

    /// Whether the server closed the connection before sending anything, with no reason given
    /// (no TLS alert, say).
    pub(crate) fn closed_silently(&self) -> bool {
        let seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        seen.ended && seen.bytes.is_empty() && (seen.error.is_none() || seen.silent)
    }

    /// Whether the server sent anything at all.
    pub(crate) fn received_any(&self) -> bool {
        !self
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
            .is_empty()
    }

    fn record(&self, new: &[u8], ended: bool) {
        let mut seen = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let room = KEPT.saturating_sub(seen.bytes.len());
        seen.bytes.extend_from_slice(&new[..new.len().min(room)]);
        seen.ended |= ended;
        drop(seen);
        self.changed.notify_one();
    }
}

/// The length of the first frame (header included), once its header has arrived.
fn first_frame_len(bytes: &[u8]) -> Option<usize> {
    let header = bytes.get(..9)?;
    let len = usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
    Some(9 + len)
}

/// Reads the frames at the start of `bytes`: what HTTP/2 servers send first, or what else came.
fn explain(bytes: &[u8], ended: bool) -> Option<String> {
    const TLS_PORT: &str = "the server answered in TLS: use an https:// target";
    match bytes {
        [] if ended => {
            return Some(
                "the server closed the connection without a word of HTTP/2 (a TLS port? use an \
                 https:// target)"
                    .into(),
            )
        }
        [0x14..=0x17, 0x03, ..] => return Some(TLS_PORT.into()),
        _ if bytes.starts_with(b"HTTP/") => {
            let line = bytes
                .split(|b| *b == b'\r' || *b == b'\n')
                .next()
                .unwrap_or(bytes);
            return Some(format!(
                "the server answered in HTTP/1 ({:?}), not HTTP/2",
                String::from_utf8_lossy(line)
            ));
        }
        _ => {}
    }
    let mut rest = bytes;
    let mut first = true;
    while let Some(len) = first_frame_len(rest) {
        let kind = rest[3];
        let stream = u32::from_be_bytes([rest[5], rest[6], rest[7], rest[8]]) & 0x7fff_ffff;
        if first && (kind != 0x4 || stream != 0) {
            return Some("the server's first bytes are not an HTTP/2 SETTINGS frame".into());
        }
        first = false;
        if kind == 0x7 {
            // GOAWAY: last stream id, error code, then the reason.
            let payload = rest.get(9..len.min(rest.len()))?;
            let code = payload
                .get(4..8)
                .map_or(0, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
            let debug = payload.get(8..).unwrap_or_default();
            let reason = h2::Reason::from(code);
            return Some(if debug.is_empty() {
                format!("the server sent GOAWAY ({reason:?}) at once")
            } else {
                format!(
                    "the server sent GOAWAY ({reason:?}) at once: {:?}",
                    String::from_utf8_lossy(debug)
                )
            });
        }
        rest = rest.get(len..)?;
    }
    None
}

fn explain_read_error(e: &io::Error) -> String {
    #[cfg(feature = "tls-core")]
    return format!(
        "TLS: {}",
        crate::tls::explain_io(e, crate::tls::Remote::Server)
    );
    #[cfg(not(feature = "tls-core"))]
    e.to_string()
}

/// A connection's reading side, copying the first bytes into a [`FirstBytes`].
#[derive(Debug)]
pub(crate) struct Recorded<IO> {
    inner: IO,
    first: Arc<FirstBytes>,
    /// Whether there is still room to record.
    recording: bool,
}

impl<IO> Recorded<IO> {
    pub(crate) fn new(inner: IO) -> (Recorded<IO>, Arc<FirstBytes>) {
        let first = Arc::new(FirstBytes::default());
        let io = Recorded {
            inner,
            first: first.clone(),
            recording: true,
        };
        (io, first)
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Recorded<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if self.recording {
            match &polled {
                Poll::Ready(Ok(())) => {
                    let new = &buf.filled()[before..];
                    self.first.record(new, new.is_empty());
                }
                Poll::Ready(Err(e)) => {
                    let why = explain_read_error(e);
                    let mut seen = self
                        .first
                        .state
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    seen.error = Some(why);
                    seen.silent = e.kind() == io::ErrorKind::UnexpectedEof;
                    drop(seen);
                    self.first.record(&[], true);
                }
                Poll::Pending => return polled,
            }
            let kept = self
                .first
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .bytes
                .len();
            self.recording = kept < KEPT;
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Recorded<IO> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, 0];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn settings_first_is_http2() {
        let mut bytes = frame(0x4, 0, &[0, 3, 0, 0, 0, 100]);
        bytes.extend(frame(0x8, 0, &[0, 0, 1, 0]));
        assert_eq!(explain(&bytes, false), None);
        assert_eq!(first_frame_len(&bytes), Some(15));
    }

    #[test]
    fn what_else_a_server_may_say_is_named() {
        let closed = explain(&[], true).unwrap();
        assert!(closed.contains("without a word of HTTP/2"), "{closed}");
        // A TLS alert record.
        let tls = explain(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32], true).unwrap();
        assert!(tls.contains("answered in TLS"), "{tls}");
        let http1 = explain(b"HTTP/1.1 400 Bad Request\r\n\r\n", true).unwrap();
        assert!(http1.contains("\"HTTP/1.1 400 Bad Request\""), "{http1}");
        let mut goaway = frame(0x4, 0, &[]);
        let mut payload = vec![0, 0, 0, 0, 0, 0, 0, 1];
        payload.extend_from_slice(b"this server requires TLS");
        goaway.extend(frame(0x7, 0, &payload));
        let said = explain(&goaway, true).unwrap();
        assert!(
            said.contains("PROTOCOL_ERROR") && said.contains("requires TLS"),
            "{said}"
        );
        let not_settings = explain(&frame(0x1, 1, &[]), false).unwrap();
        assert!(
            not_settings.contains("not an HTTP/2 SETTINGS"),
            "{not_settings}"
        );
    }
}
