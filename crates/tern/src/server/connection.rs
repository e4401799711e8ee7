//! One client connection, from its first bytes to its close: the preface check, the HTTP/2
//! handshake, a task per stream, and the connection's own clock — keepalive PINGs, closing when
//! idle or too old, and draining (GOAWAY, then a grace period, then cancelling what is left) on
//! shutdown.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::{handle_stream, io, Routes, Shared, ShutdownSignal};
use crate::request::Peer;
use crate::services::channelz::SocketRegistration;
use crate::transport::server::{tern_config, Http2Engine, ServerConnection};

/// The connection-level timers, as the server builder set them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnectionTimers {
    pub(crate) keepalive_interval: Option<Duration>,
    pub(crate) keepalive_timeout: Duration,
    pub(crate) max_idle: Option<Duration>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) max_age_grace: Option<Duration>,
    pub(crate) shutdown_grace: Option<Duration>,
}

impl Default for ConnectionTimers {
    fn default() -> ConnectionTimers {
        ConnectionTimers {
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            max_idle: None,
            max_age: None,
            max_age_grace: None,
            shutdown_grace: Some(Duration::from_secs(30)),
        }
    }
}

/// A deadline far enough away to mean "never", for timers that are off.
fn never() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}

/// Counts the streams in flight and when the last one ended, for the idle timer.
struct Activity {
    start: Instant,
    active: AtomicUsize,
    /// When a stream last ended, in milliseconds since `start`.
    last_end_ms: AtomicU64,
}

impl Activity {
    /// When the connection became idle, if it is.
    fn idle_since(&self) -> Option<Instant> {
        if self.active.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = self.last_end_ms.load(Ordering::Acquire);
        Some(self.start + Duration::from_millis(ms))
    }
}

/// Counts a stream out when its task ends, however it ends.
struct StreamGuard(Arc<Activity>);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_end_ms.store(ms, Ordering::Release);
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

pub(super) async fn serve_connection<R, IO>(
    io: IO,
    remote: Option<SocketAddr>,
    channelz: Option<SocketRegistration>,
    shared: Arc<Shared<R>>,
    shutdown: watch::Receiver<bool>,
) where
    R: Routes,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let peer = Peer {
        addr: remote,
        channelz: channelz.as_ref().map(SocketRegistration::entry),
        ..Peer::default()
    };
    // In channelz for as long as this connection is served.
    let _channelz = channelz;
    // The TLS handshake and the HTTP/2 preface together must come within the handshake timeout.
    let deadline = Instant::now() + shared.server.preface_timeout;
    #[cfg(feature = "tls-core")]
    if let Some(tls) = &shared.server.tls {
        let name = describe(&peer);
        let accepted = match tokio::time::timeout_at(deadline, crate::tls::accept(tls, io)).await {
            Ok(Ok(accepted)) => accepted,
            Ok(Err(why)) => return tracing::info!(peer = %name, "connection refused: {why}"),
            Err(_) => {
                return tracing::info!(peer = %name, "connection refused: no TLS handshake in time")
            }
        };
        if let Some(socket) = &peer.channelz {
            socket.set_tls(&accepted.info);
        }
        let peer = Peer {
            tls: Some(accepted.info),
            ..peer
        };
        return serve_http2(accepted.io, peer, deadline, shared, shutdown).await;
    }
    serve_http2(io, peer, deadline, shared, shutdown).await
}

fn describe(peer: &Peer) -> String {
    peer.addr
        .map_or_else(|| "local socket".to_owned(), |r| r.to_string())
}

/// Serves HTTP/2 on a connection, from its preface (due by `deadline`) to its close.
async fn serve_http2<R, IO>(
    io: IO,
    peer: Peer,
    deadline: Instant,
    shared: Arc<Shared<R>>,
    mut shutdown: watch::Receiver<bool>,
) where
    R: Routes,
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let name = describe(&peer);
    let only_http1 = shared.server.http2_engine == Http2Engine::Tern;
    let io = match tokio::time::timeout_at(deadline, io::read_preface(io, only_http1)).await {
        Ok(Ok(io)) => io,
        Ok(Err(e)) => return tracing::debug!(peer = %name, error = %e, "connection refused"),
        Err(_) => return tracing::debug!(peer = %name, "connection refused: no HTTP/2 preface"),
    };
    let timers = shared.server.timers;
    let mut conn = match shared.server.http2_engine {
        Http2Engine::Tern => {
            // The engine checks the handshake (its time counts from here).
            let config = tern_config(
                &shared.server.http2,
                deadline.saturating_duration_since(Instant::now()),
            );
            ServerConnection::tern(io, config)
        }
        _ => match ServerConnection::handshake(io, &shared.server.http2).await {
            Ok(conn) => conn,
            Err(e) => return tracing::debug!(peer = %name, error = %e, "HTTP/2 handshake failed"),
        },
    };
    let start = Instant::now();
    let activity = Arc::new(Activity {
        start,
        active: AtomicUsize::new(0),
        last_end_ms: AtomicU64::new(0),
    });
    let mut pinger = timers.keepalive_interval.and_then(|_| conn.pinger());
    let after = |d: Option<Duration>| d.map_or_else(never, |d| Instant::now() + d);

    let mut keepalive = pin!(sleep(Duration::ZERO));
    keepalive.as_mut().reset(after(timers.keepalive_interval));
    let mut pong_deadline = pin!(sleep(Duration::ZERO));
    pong_deadline.as_mut().reset(never());
    let mut awaiting_pong = false;
    let mut idle = pin!(sleep(Duration::ZERO));
    idle.as_mut().reset(after(timers.max_idle));
    let mut age = pin!(sleep(Duration::ZERO));
    age.as_mut()
        .reset(timers.max_age.map_or_else(never, |d| start + d));
    let mut grace = pin!(sleep(Duration::ZERO));
    grace.as_mut().reset(never());
    let mut draining = false;
    // Tells the handlers on this connection when it starts draining.
    let (drain_tx, drain_rx) = watch::channel(false);

    loop {
        tokio::select! {
            next = conn.accept() => match next {
                Some(Ok(stream)) => {
                    let shared = shared.clone();
                    let peer = peer.clone();
                    activity.active.fetch_add(1, Ordering::AcqRel);
                    let guard = StreamGuard(activity.clone());
                    let shutdown = ShutdownSignal::new(drain_rx.clone());
                    // Boxed: a call's future is large (the whole handler state machine), and
                    // tokio moves a task's future by value at spawn and at each stage change;
                    // behind a pointer, those moves are 8 bytes instead of the whole future.
                    tokio::spawn(Box::pin(async move {
                        handle_stream(stream, peer, &shared, shutdown).await;
                        drop(guard);
                    }));
                }
                Some(Err(e)) => {
                    tracing::debug!(peer = %name, error = %e, "connection ended with an error");
                    break;
                }
                None => break,
            },
            _ = shutdown.changed(), if !draining => {
                tracing::debug!(peer = %name, "server shutting down: draining connection");
                draining = true;
                drain_tx.send_replace(true);
                conn.graceful_shutdown();
                grace.as_mut().reset(after(timers.shutdown_grace));
            }
            () = &mut age, if !draining => {
                tracing::debug!(peer = %name, "max connection age reached: draining connection");
                draining = true;
                drain_tx.send_replace(true);
                conn.graceful_shutdown();
                grace.as_mut().reset(after(timers.max_age_grace));
            }
            () = &mut grace => {
                tracing::debug!(peer = %name, "grace period over: closing the connection");
                break;
            }
            () = &mut idle, if !draining => {
                let max_idle = timers.max_idle.unwrap_or_default();
                match activity.idle_since() {
                    Some(since) if since + max_idle <= Instant::now() => {
                        tracing::debug!(peer = %name, "connection idle: closing it");
                        draining = true;
                        conn.graceful_shutdown();
                        grace.as_mut().reset(after(timers.shutdown_grace));
                    }
                    Some(since) => idle.as_mut().reset(since + max_idle),
                    None => idle.as_mut().reset(Instant::now() + max_idle),
                }
            }
            () = &mut keepalive, if pinger.is_some() && !awaiting_pong => {
                if let Some(p) = pinger.as_mut() {
                    if p.send().is_ok() {
                        if let Some(socket) = &peer.channelz {
                            socket.keep_alive_sent();
                        }
                        awaiting_pong = true;
                        pong_deadline.as_mut().reset(Instant::now() + timers.keepalive_timeout);
                    }
                }
                keepalive.as_mut().reset(after(timers.keepalive_interval));
            }
            pong = std::future::poll_fn(|cx| match pinger.as_mut() {
                Some(p) => p.poll_pong(cx),
                None => std::task::Poll::Pending,
            }), if awaiting_pong => {
                awaiting_pong = false;
                pong_deadline.as_mut().reset(never());
                if pong.is_err() {
                    break;
                }
            }
            () = &mut pong_deadline, if awaiting_pong => {
                tracing::debug!(peer = %name, "keepalive PING not acknowledged in time: closing");
                break;
            }
        }
    }
    // Dropping the connection resets the streams still open: their handlers see the reset and
    // are cancelled.
}
