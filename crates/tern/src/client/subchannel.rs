//! Subchannels: one HTTP/2 connection to one address, kept by a task of its own. Asked to
//! connect, the task dials (TCP, a Unix or abstract socket, or memory; then TLS if the channel
//! has it; then HTTP/2's handshake, up to the server's first frame), with gRPC's connection
//! backoff between failed attempts, and reports each step to the channel's balancer: CONNECTING,
//! READY with the connection, TRANSIENT_FAILURE with why, and IDLE once a ready connection is
//! lost (closed, failed keepalive, or GOAWAY seen by a call). An IDLE subchannel waits to be
//! asked again.

use std::sync::Arc;

use http::uri::Authority;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::backoff::{Backoff, BackoffConfig};
use super::resolver::Address;
use crate::error::{Error, ErrorKind};
use crate::transport::client::{ClientConnection, Keepalive};
use crate::transport::Http2Settings;

/// What a subchannel connects to: a resolved address, or an in-memory server.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    Net(Address),
    Memory(crate::memory::MemoryConnector),
}

impl Endpoint {
    /// Whether two endpoints are the same server (a channel has at most one in-memory one).
    pub(crate) fn same(&self, other: &Endpoint) -> bool {
        match (self, other) {
            (Endpoint::Net(a), Endpoint::Net(b)) => a == b,
            (Endpoint::Memory(_), Endpoint::Memory(_)) => true,
            _ => false,
        }
    }
}

/// How every subchannel of a channel dials: the settings they share.
#[derive(Debug)]
pub(crate) struct Dialer {
    pub(crate) authority: Authority,
    /// The TLS to run over each connection, or why it could not be set up.
    #[cfg(feature = "tls-core")]
    pub(crate) tls: Option<Result<crate::tls::TlsConnect, String>>,
    pub(crate) settings: Http2Settings,
    pub(crate) keepalive: Option<Keepalive>,
    pub(crate) backoff: BackoffConfig,
}

/// A connection that works, as handed to calls.
#[derive(Debug)]
pub(crate) struct ReadyConn {
    pub(crate) conn: ClientConnection,
    lost: Notify,
}

impl ReadyConn {
    /// A call found the connection closed or going away (GOAWAY): the subchannel drops it.
    pub(crate) fn mark_lost(&self) {
        self.lost.notify_one();
    }
}

/// What a subchannel tells the balancer.
#[derive(Debug)]
pub(crate) enum SubEvent {
    Connecting,
    Ready(Arc<ReadyConn>),
    Failed(ErrorKind, String),
    /// The ready connection was lost; the subchannel waits to be asked to connect again.
    Idle,
}

/// The balancer's view of a subchannel.
#[derive(Clone, Debug)]
pub(crate) enum SubState {
    Idle,
    Connecting,
    Ready(Arc<ReadyConn>),
    Failed,
}

/// A subchannel: its address, its task, and the balancer's view of its state.
#[derive(Debug)]
pub(crate) struct Subchannel {
    pub(crate) id: u64,
    pub(crate) endpoint: Endpoint,
    pub(crate) state: SubState,
    /// Failed since it was last READY: counted as TRANSIENT_FAILURE while it tries again
    /// (gRPC's sticky TRANSIENT_FAILURE).
    pub(crate) failing: bool,
    kick: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Drop for Subchannel {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Subchannel {
    /// Starts an IDLE subchannel; it connects when [`connect`](Self::connect) is called.
    pub(crate) fn spawn(
        id: u64,
        endpoint: Endpoint,
        dialer: Arc<Dialer>,
        events: mpsc::UnboundedSender<(u64, SubEvent)>,
    ) -> Subchannel {
        let kick = Arc::new(Notify::new());
        let task = tokio::spawn(run(id, endpoint.clone(), dialer, events, kick.clone()));
        Subchannel {
            id,
            endpoint,
            state: SubState::Idle,
            failing: false,
            kick,
            task,
        }
    }

    /// Asks an IDLE subchannel to connect; does nothing otherwise.
    pub(crate) fn connect(&mut self) {
        if matches!(self.state, SubState::Idle) {
            self.kick.notify_one();
            self.state = SubState::Connecting;
        }
    }

    pub(crate) fn ready(&self) -> Option<&Arc<ReadyConn>> {
        match &self.state {
            SubState::Ready(conn) => Some(conn),
            _ => None,
        }
    }
}

/// The subchannel's task: waits to be asked, then connects with backoff until it has a
/// connection, and holds it until it is lost.
async fn run(
    id: u64,
    endpoint: Endpoint,
    dialer: Arc<Dialer>,
    events: mpsc::UnboundedSender<(u64, SubEvent)>,
    kick: Arc<Notify>,
) {
    let send = |event| events.send((id, event)).is_ok();
    let mut backoff = Backoff::random(dialer.backoff);
    loop {
        kick.notified().await;
        loop {
            let attempt = backoff.next_attempt();
            let started = tokio::time::Instant::now();
            if !send(SubEvent::Connecting) {
                return;
            }
            let result = match tokio::time::timeout(attempt.timeout, dialer.dial(&endpoint)).await {
                Ok(result) => result,
                Err(_) => Err(Error::msg(
                    ErrorKind::Connect,
                    format!(
                        "connecting to {} timed out after {:?}",
                        dialer.describe(&endpoint),
                        attempt.timeout
                    ),
                )),
            };
            match result {
                Ok((conn, mut ended)) => {
                    backoff.reset();
                    let ready = Arc::new(ReadyConn {
                        conn,
                        lost: Notify::new(),
                    });
                    if !send(SubEvent::Ready(ready.clone())) {
                        return;
                    }
                    tokio::select! {
                        _ = &mut ended => {}
                        () = ready.lost.notified() => {}
                    }
                    tracing::debug!(endpoint = ?endpoint, "connection lost");
                    if !send(SubEvent::Idle) {
                        return;
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, next_in = ?attempt.next_after, "connection attempt failed");
                    if !send(SubEvent::Failed(e.kind(), e.to_string())) {
                        return;
                    }
                    tokio::time::sleep_until(started + attempt.next_after).await;
                }
            }
        }
    }
}

impl Dialer {
    /// Names an endpoint in errors: the address, and the authority when it says more.
    pub(crate) fn describe(&self, endpoint: &Endpoint) -> String {
        match endpoint {
            Endpoint::Net(Address::Tcp(addr)) if addr.to_string() != self.authority.as_str() => {
                format!("{addr} ({})", self.authority)
            }
            Endpoint::Net(address) => address.to_string(),
            Endpoint::Memory(_) => format!("the in-memory server {}", self.authority),
        }
    }

    fn connect_error(&self, endpoint: &Endpoint, e: std::io::Error) -> Error {
        Error::new(
            ErrorKind::Connect,
            format!("failed to connect to {}", self.describe(endpoint)),
            e,
        )
    }

    /// Dials once: the connection, and a receiver that fires when it has ended.
    async fn dial(
        &self,
        endpoint: &Endpoint,
    ) -> Result<(ClientConnection, oneshot::Receiver<()>), Error> {
        match endpoint {
            Endpoint::Net(Address::Tcp(addr)) => {
                let stream = TcpStream::connect(addr)
                    .await
                    .map_err(|e| self.connect_error(endpoint, e))?;
                let _ = stream.set_nodelay(true);
                self.secure_handshake(stream, endpoint).await
            }
            #[cfg(unix)]
            Endpoint::Net(Address::Unix(path)) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|e| self.connect_error(endpoint, e))?;
                self.secure_handshake(stream, endpoint).await
            }
            #[cfg(target_os = "linux")]
            Endpoint::Net(Address::UnixAbstract(name)) => {
                let stream = connect_abstract(name.clone())
                    .await
                    .map_err(|e| self.connect_error(endpoint, e))?;
                self.secure_handshake(stream, endpoint).await
            }
            Endpoint::Memory(connector) => {
                let stream = connector.dial().await?;
                self.secure_handshake(stream, endpoint).await
            }
            #[allow(unreachable_patterns)]
            Endpoint::Net(address) => Err(Error::msg(
                ErrorKind::InvalidAddress,
                format!("{address}: this kind of socket does not exist on this system"),
            )),
        }
    }

    /// The TLS handshake, if the channel uses TLS, then HTTP/2's.
    async fn secure_handshake<IO>(
        &self,
        io: IO,
        endpoint: &Endpoint,
    ) -> Result<(ClientConnection, oneshot::Receiver<()>), Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        #[cfg(feature = "tls-core")]
        if let Some(tls) = &self.tls {
            let tls = tls
                .as_ref()
                .map_err(|why| Error::msg(ErrorKind::Tls, why.clone()))?;
            let (stream, notes) = tls.connect(io, &self.describe(endpoint)).await?;
            return self
                .handshake(stream, endpoint, notes.explain_silent_close())
                .await;
        }
        self.handshake(io, endpoint, None).await
    }

    /// HTTP/2's handshake; `silent_close` explains a close without a word, when TLS can.
    async fn handshake<IO>(
        &self,
        io: IO,
        endpoint: &Endpoint,
        silent_close: Option<&'static str>,
    ) -> Result<(ClientConnection, oneshot::Receiver<()>), Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let describe = || self.describe(endpoint);
        let failed = |why: String| {
            Error::msg(
                ErrorKind::Handshake,
                format!("HTTP/2 handshake with {} failed: {why}", describe()),
            )
        };
        let (conn, driver, first) = ClientConnection::handshake(io, &self.settings, self.keepalive)
            .await
            .map_err(|status| failed(status.message().to_owned()))?;
        let (result_tx, result) = oneshot::channel();
        let (ended_tx, ended) = oneshot::channel();
        tokio::spawn(async move {
            let outcome = driver.await;
            if let Err(status) = &outcome {
                tracing::debug!(%status, "client connection ended");
            }
            let _ = result_tx.send(outcome);
            let _ = ended_tx.send(());
        });
        // Ready once the server has shown it speaks HTTP/2, so that a server speaking something
        // else fails the dial with what it said rather than the first call with a bare error.
        let driver_error = tokio::select! {
            () = first.first_frame() => None,
            outcome = result => Some(outcome),
        };
        let Some(problem) = first.problem().or_else(|| match driver_error {
            Some(Ok(Err(status))) => Some(status.message().to_owned()),
            Some(_) => Some("the connection closed".to_owned()),
            None => None,
        }) else {
            return Ok((conn, ended));
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
                format!("connection to {} failed: {error}", describe()),
            )),
            _ => Err(failed(problem)),
        }
    }
}

/// Connects to a socket in Linux's abstract namespace: std can name one
/// (`SocketAddrExt::from_abstract_name`), tokio cannot, so std connects (on a blocking thread:
/// a full backlog makes a Unix connect wait) and tokio takes the stream over.
#[cfg(target_os = "linux")]
async fn connect_abstract(name: Vec<u8>) -> std::io::Result<tokio::net::UnixStream> {
    let stream = tokio::task::spawn_blocking(move || {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name)?;
        let stream = std::os::unix::net::UnixStream::connect_addr(&addr)?;
        stream.set_nonblocking(true)?;
        Ok::<_, std::io::Error>(stream)
    })
    .await
    .map_err(std::io::Error::other)??;
    tokio::net::UnixStream::from_std(stream)
}
