//! An in-memory transport: a server and its clients in one process, connected with no socket and
//! no port, for tests of a service (and for embedding a service in its caller). Everything above
//! the bytes is the same as over TCP — HTTP/2, TLS if configured, deadlines, cancellation,
//! limits, streaming, graceful shutdown — because only the byte pipe differs.
//!
//! ```
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use tern::memory::MemoryListener;
//! use tern::services::health::{proto::health_client::HealthClient, HealthReporter};
//! use tern::services::health::proto::HealthCheckRequest;
//!
//! let listener = MemoryListener::new();
//! let connector = listener.connector();
//! let health = HealthReporter::new();
//! health.set_serving("hello.Hello");
//! tokio::spawn(
//!     tern::Server::builder()
//!         .with_health(health)
//!         .serve_memory(listener, std::future::pending()),
//! );
//!
//! let client = HealthClient::new(connector.connect().await?);
//! let reply = client
//!     .check(HealthCheckRequest { service: "hello.Hello".into() })
//!     .await?;
//! # let _ = reply; Ok(()) }
//! ```

use std::fmt;

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use crate::client::{Channel, ChannelBuilder};
use crate::error::{Error, ErrorKind};

/// How many bytes each direction of a connection buffers before the writer waits for the
/// reader: enough for a few HTTP/2 frames of 16 KiB, as a socket's buffer would hold.
const PIPE_BUFFER: usize = 256 * 1024;

/// Connections not yet accepted by the server, as a listening socket's backlog.
const BACKLOG: usize = 128;

/// Where an in-memory server takes connections from; give it to
/// [`Router::serve_memory`](crate::server::Router::serve_memory). Its [`connector`](Self::connector)s
/// reach it.
pub struct MemoryListener {
    incoming: mpsc::Receiver<DuplexStream>,
    connector: MemoryConnector,
}

impl fmt::Debug for MemoryListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryListener").finish_non_exhaustive()
    }
}

impl Default for MemoryListener {
    fn default() -> MemoryListener {
        MemoryListener::new()
    }
}

impl MemoryListener {
    /// A listener with no connections yet.
    pub fn new() -> MemoryListener {
        let (sender, incoming) = mpsc::channel(BACKLOG);
        MemoryListener {
            incoming,
            connector: MemoryConnector { sender },
        }
    }

    /// What clients connect with; clone it freely.
    pub fn connector(&self) -> MemoryConnector {
        self.connector.clone()
    }

    /// The next connection. Cancel-safe. Never ends: the listener holds a connector itself.
    pub(crate) async fn accept(&mut self) -> DuplexStream {
        match self.incoming.recv().await {
            Some(stream) => stream,
            None => std::future::pending().await,
        }
    }
}

/// Dials a [`MemoryListener`]: each connection is a new in-memory byte pipe.
#[derive(Clone)]
pub struct MemoryConnector {
    sender: mpsc::Sender<DuplexStream>,
}

impl fmt::Debug for MemoryConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryConnector").finish_non_exhaustive()
    }
}

impl MemoryConnector {
    /// A channel to the in-memory server, connected now (`:authority` is `in-memory`).
    pub async fn connect(&self) -> Result<Channel, Error> {
        self.channel_builder()?.connect().await
    }

    /// Settings for a channel to the in-memory server, for keepalive, windows, credentials or
    /// TLS; the `:authority` sent (and the name TLS checks) can be changed with
    /// [`ChannelBuilder::authority_override`].
    pub fn channel_builder(&self) -> Result<ChannelBuilder, Error> {
        Ok(Channel::builder("http://in-memory")?.in_memory(self.clone()))
    }

    /// Opens a connection: one end goes to the server's accept loop, the other is returned.
    pub(crate) async fn dial(&self) -> Result<DuplexStream, Error> {
        let (client, server) = tokio::io::duplex(PIPE_BUFFER);
        self.sender.send(server).await.map_err(|_| {
            Error::msg(
                ErrorKind::Connect,
                "failed to connect to the in-memory server: it is not serving (stopped, or its \
                 listener was dropped)",
            )
        })?;
        Ok(client)
    }
}
