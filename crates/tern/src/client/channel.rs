//! `Channel`: a connection to one server address (TCP or a Unix domain socket), shared by every
//! call and every client cloned from it. Calls are multiplexed as HTTP/2 streams on one
//! connection; when that connection is lost or the server sends GOAWAY, the next call dials
//! again, and a call that could not start on the old connection starts on the new one.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::uri::{Authority, Scheme, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::error::{Error, ErrorKind};
use crate::status::Status;
use crate::transport::client::{ClientConnection, Keepalive, PendingResponse};
use crate::transport::{Http2Settings, SendBody};

/// A connection to a gRPC server, cheap to clone; every clone shares the connection.
///
/// ```no_run
/// # async fn f() -> Result<(), tern::Error> {
/// let channel = tern::Channel::connect("http://127.0.0.1:5000").await?;
/// let local = tern::Channel::connect("unix:/run/hello.sock").await?;
/// let tuned = tern::Channel::builder("http://127.0.0.1:5000")?
///     .keepalive_interval(std::time::Duration::from_secs(30))
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

/// Where the server is.
#[derive(Clone, Debug)]
enum Address {
    Tcp { host: String, port: u16 },
    Unix(PathBuf),
}

struct Inner {
    address: Address,
    scheme: Scheme,
    authority: Authority,
    settings: Http2Settings,
    keepalive: Option<Keepalive>,
    connect_timeout: Option<Duration>,
    /// The live connection and its generation, so a dead connection's driver clears only its own.
    current: Mutex<Option<(u64, ClientConnection)>>,
    /// Held while dialing, so that concurrent calls after a loss share one new connection.
    dialing: tokio::sync::Mutex<u64>,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("address", &self.inner.address)
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Channel`], from [`Channel::builder`].
#[derive(Debug)]
pub struct ChannelBuilder {
    address: Address,
    authority: Authority,
    settings: Http2Settings,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    connect_timeout: Option<Duration>,
}

impl ChannelBuilder {
    /// Sends a keepalive PING after this long, and drops the connection (so the next call dials
    /// again) if the server does not answer within the keepalive timeout. Off by default.
    pub fn keepalive_interval(mut self, interval: Duration) -> ChannelBuilder {
        self.keepalive_interval = Some(interval);
        self
    }

    /// How long to wait for a keepalive PING's answer (default 20 s).
    pub fn keepalive_timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.keepalive_timeout = timeout;
        self
    }

    /// How long dialing (TCP connect and HTTP/2 handshake) may take (default: the system's).
    pub fn connect_timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The HTTP/2 flow-control window of each stream (default 1 MiB).
    pub fn initial_stream_window_size(mut self, size: u32) -> ChannelBuilder {
        self.settings.initial_stream_window = size;
        self
    }

    /// The HTTP/2 flow-control window of the connection (default 2 MiB).
    pub fn initial_connection_window_size(mut self, size: u32) -> ChannelBuilder {
        self.settings.initial_connection_window = size;
        self
    }

    /// The largest HTTP/2 frame payload this client accepts (default 16 KiB; at most 16 MiB).
    pub fn max_frame_size(mut self, size: u32) -> ChannelBuilder {
        self.settings.max_frame_size = size;
        self
    }

    /// The largest header block accepted from the server (default 16 KiB).
    pub fn max_header_list_size(mut self, size: u32) -> ChannelBuilder {
        self.settings.max_header_list_size = size;
        self
    }

    /// A channel that connects on its first call (and again after a connection is lost).
    pub fn lazy(self) -> Channel {
        Channel {
            inner: Arc::new(Inner {
                address: self.address,
                scheme: Scheme::HTTP,
                authority: self.authority,
                settings: self.settings,
                keepalive: self.keepalive_interval.map(|interval| Keepalive {
                    interval,
                    timeout: self.keepalive_timeout,
                }),
                connect_timeout: self.connect_timeout,
                current: Mutex::new(None),
                dialing: tokio::sync::Mutex::new(0),
            }),
        }
    }

    /// Connects now, failing if the server cannot be reached.
    pub async fn connect(self) -> Result<Channel, Error> {
        let channel = self.lazy();
        channel.dial().await?;
        Ok(channel)
    }
}

fn parse_target(target: &str) -> Result<(Address, Authority), Error> {
    let invalid = |why: String| Error::msg(ErrorKind::InvalidAddress, why);
    if let Some(path) = target.strip_prefix("unix:") {
        // unix:relative/or/absolute and unix:///absolute, as gRPC names them.
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(invalid(format!("no socket path in target {target:?}")));
        }
        return Ok((
            Address::Unix(PathBuf::from(path)),
            Authority::from_static("localhost"),
        ));
    }
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
    if uri.scheme() != Some(&Scheme::HTTP) {
        return Err(invalid(format!(
            "unsupported scheme in {target:?}: only http:// (cleartext HTTP/2) and unix: are supported"
        )));
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| invalid(format!("no host in target {target:?}")))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority.port_u16().unwrap_or(80);
    Ok((Address::Tcp { host, port }, authority))
}

impl Channel {
    /// Connects to `target` now, failing if it cannot: `http://host:port`, `host:port`, or
    /// `unix:/path/to/socket`.
    pub async fn connect(target: &str) -> Result<Channel, Error> {
        Channel::builder(target)?.connect().await
    }

    /// A channel to `target` that connects on its first call.
    pub fn lazy(target: &str) -> Result<Channel, Error> {
        Ok(Channel::builder(target)?.lazy())
    }

    /// Settings for a channel to `target`.
    pub fn builder(target: &str) -> Result<ChannelBuilder, Error> {
        let (address, authority) = parse_target(target)?;
        Ok(ChannelBuilder {
            address,
            authority,
            settings: Http2Settings::default(),
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            connect_timeout: None,
        })
    }

    pub(crate) fn scheme(&self) -> &Scheme {
        &self.inner.scheme
    }

    pub(crate) fn authority(&self) -> &Authority {
        &self.inner.authority
    }

    fn live(&self) -> Option<(u64, ClientConnection)> {
        let current = self.inner.current.lock().unwrap_or_else(|e| e.into_inner());
        current.clone()
    }

    fn forget(&self, generation: u64) {
        let mut current = self.inner.current.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*current, Some((g, _)) if g == generation) {
            *current = None;
        }
    }

    /// Opens a stream for a call. A connection that turns out to be closed or going away is
    /// dropped and the call starts on a new one: nothing of it was sent, so this is always safe.
    pub(crate) async fn start(
        &self,
        head: http::Request<()>,
    ) -> Result<(PendingResponse, SendBody), Status> {
        let (generation, conn) = match self.live() {
            Some(live) => live,
            None => self.dial_for_call().await?,
        };
        let ready = match conn.ready().await {
            Ok(ready) => ready,
            Err(status) => {
                tracing::debug!(%status, "connection unusable; dialing again");
                self.forget(generation);
                let (_, conn) = self.dial_for_call().await?;
                conn.ready().await?
            }
        };
        ready.start(head)
    }

    async fn dial_for_call(&self) -> Result<(u64, ClientConnection), Status> {
        self.dial()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))
    }

    async fn dial(&self) -> Result<(u64, ClientConnection), Error> {
        let mut generation = self.inner.dialing.lock().await;
        // Another call may have dialed while this one waited for the lock.
        if let Some(live) = self.live() {
            return Ok(live);
        }
        let mine = *generation + 1;
        let dial = async {
            match &self.inner.address {
                Address::Tcp { host, port } => {
                    let stream = TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(|e| self.connect_error(e))?;
                    let _ = stream.set_nodelay(true);
                    self.handshake(stream, mine).await
                }
                #[cfg(unix)]
                Address::Unix(path) => {
                    let stream = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| self.connect_error(e))?;
                    self.handshake(stream, mine).await
                }
                #[cfg(not(unix))]
                Address::Unix(path) => Err(Error::msg(
                    ErrorKind::InvalidAddress,
                    format!(
                        "unix:{}: Unix domain sockets need a Unix system",
                        path.display()
                    ),
                )),
            }
        };
        let conn = match self.inner.connect_timeout {
            Some(limit) => tokio::time::timeout(limit, dial).await.map_err(|_| {
                Error::msg(
                    ErrorKind::Connect,
                    format!(
                        "connecting to {} timed out after {limit:?}",
                        self.describe()
                    ),
                )
            })??,
            None => dial.await?,
        };
        *generation = mine;
        *self.inner.current.lock().unwrap_or_else(|e| e.into_inner()) = Some((mine, conn.clone()));
        Ok((mine, conn))
    }

    fn describe(&self) -> String {
        match &self.inner.address {
            Address::Tcp { .. } => self.inner.authority.to_string(),
            Address::Unix(path) => format!("unix:{}", path.display()),
        }
    }

    fn connect_error(&self, e: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Connect,
            format!("failed to connect to {}", self.describe()),
            e,
        )
    }

    async fn handshake<IO>(&self, io: IO, generation: u64) -> Result<ClientConnection, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (conn, driver) =
            ClientConnection::handshake(io, &self.inner.settings, self.inner.keepalive)
                .await
                .map_err(|e| {
                    Error::new(
                        ErrorKind::Handshake,
                        format!("HTTP/2 handshake with {} failed", self.describe()),
                        e,
                    )
                })?;
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            if let Err(status) = driver.await {
                tracing::debug!(%status, "client connection ended");
            }
            if let Some(inner) = weak.upgrade() {
                Channel { inner }.forget(generation);
            }
        });
        Ok(conn)
    }
}
