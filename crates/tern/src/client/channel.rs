//! `Channel`: a connection to one server address, shared by every call and every client cloned
//! from it. Calls are multiplexed as HTTP/2 streams on one connection; when that connection is
//! lost, the next call dials again.

use std::fmt;
use std::sync::{Arc, Mutex, Weak};

use http::uri::{Authority, Scheme, Uri};
use tokio::net::TcpStream;

use crate::error::{Error, ErrorKind};
use crate::status::Status;
use crate::transport::client::ClientConnection;
use crate::transport::Http2Settings;

/// A connection to a gRPC server, cheap to clone; every clone shares the connection.
///
/// ```no_run
/// # async fn f() -> Result<(), tern::Error> {
/// let channel = tern::Channel::connect("http://127.0.0.1:5000").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    scheme: Scheme,
    authority: Authority,
    settings: Http2Settings,
    /// The live connection and its generation, so a dead connection's driver clears only its own.
    current: Mutex<Option<(u64, ClientConnection)>>,
    /// Held while dialing, so that concurrent calls after a loss share one new connection.
    dialing: tokio::sync::Mutex<u64>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("authority", &self.inner.authority)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Connects to `target` (`http://host:port`, or `host:port`) now, failing if it cannot.
    pub async fn connect(target: &str) -> Result<Channel, Error> {
        let channel = Channel::lazy(target)?;
        channel.dial().await?;
        Ok(channel)
    }

    /// A channel that connects on its first call (and again after a connection is lost).
    pub fn lazy(target: &str) -> Result<Channel, Error> {
        let with_scheme;
        let target = if target.contains("://") {
            target
        } else {
            with_scheme = format!("http://{target}");
            &with_scheme
        };
        let uri: Uri = target.parse().map_err(|e| {
            Error::new(
                ErrorKind::InvalidAddress,
                format!("invalid target {target:?}"),
                e,
            )
        })?;
        let scheme = uri.scheme().cloned().unwrap_or(Scheme::HTTP);
        if scheme != Scheme::HTTP {
            return Err(Error::msg(
                ErrorKind::InvalidAddress,
                format!("unsupported scheme in {target:?}: only http:// (cleartext HTTP/2) is supported"),
            ));
        }
        let authority = uri.authority().cloned().ok_or_else(|| {
            Error::msg(
                ErrorKind::InvalidAddress,
                format!("no host in target {target:?}"),
            )
        })?;
        Ok(Channel {
            inner: Arc::new(Inner {
                scheme,
                authority,
                settings: Http2Settings::default(),
                current: Mutex::new(None),
                dialing: tokio::sync::Mutex::new(0),
            }),
        })
    }

    pub(crate) fn scheme(&self) -> &Scheme {
        &self.inner.scheme
    }

    pub(crate) fn authority(&self) -> &Authority {
        &self.inner.authority
    }

    fn live(&self) -> Option<ClientConnection> {
        let current = self.inner.current.lock().unwrap_or_else(|e| e.into_inner());
        current.as_ref().map(|(_, conn)| conn.clone())
    }

    /// The live connection, dialing one if there is none.
    pub(crate) async fn connection(&self) -> Result<ClientConnection, Status> {
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        self.dial()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))
    }

    async fn dial(&self) -> Result<ClientConnection, Error> {
        let mut generation = self.inner.dialing.lock().await;
        // Another call may have dialed while this one waited for the lock.
        if let Some(conn) = self.live() {
            return Ok(conn);
        }
        let authority = &self.inner.authority;
        let port = authority.port_u16().unwrap_or(80);
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let stream = TcpStream::connect((host, port)).await.map_err(|e| {
            Error::new(
                ErrorKind::Connect,
                format!("failed to connect to {authority}"),
                e,
            )
        })?;
        let _ = stream.set_nodelay(true);
        let (conn, driver) = ClientConnection::handshake(stream, &self.inner.settings)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Handshake,
                    format!("HTTP/2 handshake with {authority} failed"),
                    e,
                )
            })?;
        *generation += 1;
        let mine = *generation;
        *self.inner.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((mine, conn.clone()));
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            if let Err(status) = driver.await {
                tracing::debug!(%status, "client connection ended");
            }
            if let Some(inner) = weak.upgrade() {
                let mut current = inner.current.lock().unwrap_or_else(|e| e.into_inner());
                if matches!(*current, Some((generation, _)) if generation == mine) {
                    *current = None;
                }
            }
        });
        Ok(conn)
    }
}
