//! `Channel`: a connection to one server address (TCP, a Unix domain socket or an in-memory
//! server; cleartext or TLS), shared by every call and every client cloned from it. Calls are multiplexed as HTTP/2 streams on one
//! connection; when that connection is lost or the server sends GOAWAY, the next call dials
//! again, and a call that could not start on the old connection starts on the new one.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use http::uri::{Authority, Scheme, Uri};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind};
use crate::interceptor::chain::ClientChain;
use crate::interceptor::ClientInterceptor;
use crate::status::Status;
use crate::transport::client::{ClientConnection, Keepalive, PendingResponse};
use crate::transport::{Http2Settings, SendBody};

/// A connection to a gRPC server, cheap to clone; every clone shares the connection.
///
/// ```no_run
/// # async fn f() -> Result<(), tern::Error> {
/// let channel = tern::Channel::connect("http://127.0.0.1:5000").await?;
/// let local = tern::Channel::connect("unix:/run/hello.sock").await?;
/// let secure = tern::Channel::connect("https://api.example.com").await?; // the system's roots
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
    Memory(crate::memory::MemoryConnector),
}

struct Inner {
    address: Address,
    scheme: Scheme,
    authority: Authority,
    /// The TLS to run over the connection, or why it could not be set up.
    #[cfg(feature = "tls-core")]
    tls: Option<Result<crate::tls::TlsConnect, String>>,
    settings: Http2Settings,
    credentials: Option<Credentials>,
    keepalive: Option<Keepalive>,
    connect_timeout: Option<Duration>,
    interceptors: ClientChain,
    /// The target as the user gave it, for metrics (`grpc.target`).
    target: String,
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
    /// Whether the target asked for TLS (`https://`).
    secure: bool,
    #[cfg(feature = "tls-core")]
    tls: Option<crate::tls::ClientTlsConfig>,
    /// The name checked in the server's certificate, when not the target's host.
    tls_name: Option<String>,
    settings: Http2Settings,
    credentials: Option<Credentials>,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    connect_timeout: Option<Duration>,
    interceptors: ClientChain,
    target: String,
}

impl ChannelBuilder {
    /// Adds an interceptor, run on every call made on the channel before it is sent, after
    /// those added before it: see [`interceptor`](crate::interceptor).
    pub fn intercept(mut self, interceptor: impl ClientInterceptor) -> ChannelBuilder {
        self.interceptors.push(interceptor);
        self
    }

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

    /// How long dialing (TCP connect, TLS handshake and the server's first HTTP/2 frame) may
    /// take (default 20 s, gRPC's minimum connect timeout).
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

    /// Connects with TLS, with these settings (an `https://` target uses TLS with the default
    /// settings, the system's roots, without this). Makes any target a TLS one, `unix:` too.
    #[cfg(feature = "tls-core")]
    pub fn tls(mut self, config: crate::tls::ClientTlsConfig) -> ChannelBuilder {
        self.tls = Some(config);
        self.secure = true;
        self
    }

    /// Adds these credentials' metadata to every call (a call can add its own with
    /// [`Request::set_credentials`](crate::Request::set_credentials)). Sent only over TLS
    /// unless they allow cleartext: see [`credentials`](crate::credentials).
    pub fn call_credentials(mut self, credentials: Credentials) -> ChannelBuilder {
        self.credentials = Some(credentials);
        self
    }

    /// Connects to an in-memory server instead of the target's address (the target still
    /// gives `:authority` and the scheme): see [`memory`](crate::memory).
    pub fn in_memory(mut self, connector: crate::memory::MemoryConnector) -> ChannelBuilder {
        self.address = Address::Memory(connector);
        self
    }

    /// Calls `name` instead of the target's host: sent as `:authority` and, over TLS, as the
    /// server name (SNI) and the name the server's certificate must have — gRPC's
    /// `server_host_override`, for reaching a server by an address its certificate does not
    /// name. `name` may carry a port (`api.internal:443`), which only `:authority` shows.
    pub fn authority_override(mut self, name: &str) -> Result<ChannelBuilder, Error> {
        let authority: Authority = name.parse().map_err(|e| {
            Error::new(
                ErrorKind::InvalidAddress,
                format!("invalid authority override {name:?}"),
                e,
            )
        })?;
        self.tls_name = Some(authority.host().to_owned());
        self.authority = authority;
        Ok(self)
    }

    /// A channel that connects on its first call (and again after a connection is lost). A TLS
    /// setting that cannot be used (no system roots, say) fails each call with the reason.
    pub fn lazy(self) -> Channel {
        #[cfg(feature = "tls-core")]
        let tls = self.secure.then(|| {
            let config = self.tls.clone().unwrap_or_default();
            let name = match (&self.tls_name, &self.address) {
                (Some(name), _) => name.clone(),
                (None, Address::Tcp { host, .. }) => host.clone(),
                (None, Address::Unix(_)) => "localhost".to_owned(),
                (None, Address::Memory(_)) => self.authority.host().to_owned(),
            };
            config
                .build()
                .and_then(|tls| crate::tls::TlsConnect::new(tls, &name))
                .map_err(|e| e.to_string())
        });
        Channel {
            inner: Arc::new(Inner {
                address: self.address,
                scheme: if self.secure {
                    Scheme::HTTPS
                } else {
                    Scheme::HTTP
                },
                authority: self.authority,
                #[cfg(feature = "tls-core")]
                tls,
                settings: self.settings,
                credentials: self.credentials,
                keepalive: self.keepalive_interval.map(|interval| Keepalive {
                    interval,
                    timeout: self.keepalive_timeout,
                }),
                connect_timeout: self.connect_timeout,
                interceptors: self.interceptors,
                target: self.target,
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

/// Where a target points, the authority to send, and whether it asked for TLS.
fn parse_target(target: &str) -> Result<(Address, Authority, bool), Error> {
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
            false,
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
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") if cfg!(feature = "tls-core") => true,
        Some("https") => {
            return Err(invalid(format!(
                "{target:?} needs TLS, and this build of tern has none (cargo feature `tls`)"
            )))
        }
        _ => {
            return Err(invalid(format!(
                "unsupported scheme in {target:?}: use http:// (cleartext HTTP/2), https:// \
                 (TLS) or unix:"
            )))
        }
    };
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| invalid(format!("no host in target {target:?}")))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = authority
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    Ok((Address::Tcp { host, port }, authority, secure))
}

impl Channel {
    /// Connects to `target` now, failing if it cannot: `http://host:port` or `host:port`
    /// (cleartext), `https://host:port` (TLS, verified against the system's roots), or
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
        let (address, authority, secure) = parse_target(target)?;
        Ok(ChannelBuilder {
            address,
            authority,
            secure,
            #[cfg(feature = "tls-core")]
            tls: None,
            tls_name: None,
            settings: Http2Settings::default(),
            credentials: None,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            connect_timeout: Some(Duration::from_secs(20)),
            interceptors: ClientChain::default(),
            target: target.to_owned(),
        })
    }

    pub(crate) fn scheme(&self) -> &Scheme {
        &self.inner.scheme
    }

    pub(crate) fn is_secure(&self) -> bool {
        self.inner.scheme == Scheme::HTTPS
    }

    /// The target this channel was made for, as given.
    pub fn target(&self) -> &str {
        &self.inner.target
    }

    pub(crate) fn interceptors(&self) -> &ClientChain {
        &self.inner.interceptors
    }

    pub(crate) fn credentials(&self) -> Option<&Credentials> {
        self.inner.credentials.as_ref()
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
                    self.secure_handshake(stream, mine).await
                }
                #[cfg(unix)]
                Address::Unix(path) => {
                    let stream = tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| self.connect_error(e))?;
                    self.secure_handshake(stream, mine).await
                }
                Address::Memory(connector) => {
                    let stream = connector.dial().await?;
                    self.secure_handshake(stream, mine).await
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
            Address::Memory(_) => format!("the in-memory server {}", self.inner.authority),
        }
    }

    fn connect_error(&self, e: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Connect,
            format!("failed to connect to {}", self.describe()),
            e,
        )
    }

    /// The TLS handshake, if the channel uses TLS, then HTTP/2's.
    async fn secure_handshake<IO>(&self, io: IO, generation: u64) -> Result<ClientConnection, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        #[cfg(feature = "tls-core")]
        if let Some(tls) = &self.inner.tls {
            let tls = tls
                .as_ref()
                .map_err(|why| Error::msg(ErrorKind::Tls, why.clone()))?;
            let (stream, notes) = tls.connect(io, &self.describe()).await?;
            return self
                .handshake(stream, generation, notes.explain_silent_close())
                .await;
        }
        self.handshake(io, generation, None).await
    }

    /// HTTP/2's handshake; `silent_close` explains a close without a word, when TLS can.
    async fn handshake<IO>(
        &self,
        io: IO,
        generation: u64,
        silent_close: Option<&'static str>,
    ) -> Result<ClientConnection, Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let failed = |why: String| {
            Error::msg(
                ErrorKind::Handshake,
                format!("HTTP/2 handshake with {} failed: {why}", self.describe()),
            )
        };
        let (conn, driver, first) =
            ClientConnection::handshake(io, &self.inner.settings, self.inner.keepalive)
                .await
                .map_err(|status| failed(status.message().to_owned()))?;
        let (ended_tx, ended) = tokio::sync::oneshot::channel();
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let result = driver.await;
            if let Err(status) = &result {
                tracing::debug!(%status, "client connection ended");
            }
            let _ = ended_tx.send(result);
            if let Some(inner) = weak.upgrade() {
                Channel { inner }.forget(generation);
            }
        });
        // Ready once the server has shown it speaks HTTP/2, so that a server speaking something
        // else fails the dial with what it said rather than the first call with a bare error.
        let driver_error = tokio::select! {
            () = first.first_frame() => None,
            result = ended => Some(result),
        };
        let Some(problem) = first.problem().or_else(|| match driver_error {
            Some(Ok(Err(status))) => Some(status.message().to_owned()),
            Some(_) => Some("the connection closed".to_owned()),
            None => None,
        }) else {
            return Ok(conn);
        };
        // What the server sent explains most; when it sent nothing, why reading failed (a TLS
        // alert, say) does, if it did.
        let read_error = match silent_close {
            Some(why) if first.closed_silently() => Some(format!("TLS: {why}")),
            _ => first.read_error(),
        };
        match read_error {
            Some(error) if !first.received_any() => Err(Error::msg(
                ErrorKind::Tls,
                format!("connection to {} failed: {error}", self.describe()),
            )),
            _ => Err(failed(problem)),
        }
    }
}
