//! channelz, `grpc.channelz.v1.Channelz` (gRFC A14): the process's servers, their listening and
//! accepted sockets, and its channels, with call and stream counts and when the last one
//! started, for `tern channelz ADDR`, grpc-go's channelz client, `grpcurl` or any other.
//!
//! The registry is process-wide, as in grpc-go and grpc-java: every id (server, channel,
//! socket) is unique in the process, `GetSocket` and `GetChannel` name an entity by id alone,
//! and one server's channelz service shows the client channels of the whole process, which
//! belong to no server. Servers and channels opt in: nothing is recorded, and nothing costs, for
//! those that do not.
//!
//! ```no_run
//! # async fn f<S: tern::server::Service>(service: S) -> Result<(), tern::Error> {
//! // A server recorded in channelz and serving it, with health and reflection:
//! tern::Server::builder()
//!     .add_service(service)
//!     .with_admin()
//!     .serve("0.0.0.0:5000".parse().unwrap())
//!     .await?;
//! // A channel recorded in channelz:
//! let channel = tern::Channel::builder("http://127.0.0.1:5000")?.channelz().lazy();
//! # drop(channel); Ok(())
//! # }
//! ```
//!
//! What is counted, and where:
//! - A server's calls (`ServerData`) and its connections' streams and messages (`SocketData`)
//!   are counted by an interceptor that [`Server::channelz`](crate::Server::channelz) puts
//!   first in the server's chain, so calls that a later interceptor rejects count too. A call
//!   succeeds when it ends OK. A stream succeeds when the server sent its status, whatever the
//!   code; it fails when it ended `CANCELLED` (reset by the client, connection lost — or a
//!   handler that itself answered `CANCELLED`). Requests refused before any interceptor runs
//!   (not a POST, not `application/grpc`, an unsupported `grpc-encoding`, a malformed path)
//!   are not counted.
//! - A channel's calls (`ChannelData`) are counted by the interceptor that
//!   [`ChannelBuilder::channelz`](crate::client::ChannelBuilder::channelz) puts first in its
//!   chain; its state is the channel's own connectivity state. Its subchannels (one per
//!   address the balancer keeps: pick_first's one, round_robin's all) are listed with their
//!   address and state, from the balancer; they count no calls and show no sockets yet.
//! - A TLS connection's socket has its security: the cipher suite and the client's certificate
//!   (not yet the server's own). Keepalive PINGs sent are counted.
//! - Traces, flow-control windows and socket options are left empty.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::client::balancer::Snapshot;
use crate::client::ConnectivityState;
use crate::interceptor::{
    CallObserver, ClientInterceptor, IncomingCall, Message, OutgoingCall, ServerInterceptor,
};
use crate::metadata::Metadata;
use crate::status::Code;
use crate::{Request, Response, Status};

/// The generated messages, service and client of `grpc.channelz.v1`.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#[rustfmt::skip]
pub mod proto {
    include!("generated/grpc.channelz.v1.rs");

    /// The encoded descriptors of `grpc/channelz/v1/channelz.proto` and its imports, for
    /// reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/channelz.bin");
}

use proto::channel_connectivity_state::State;
use proto::channelz_server::{Channelz, ChannelzServer};

/// How many entities a page holds when the request leaves `max_results` at 0, and at most.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

static NEXT_ID: AtomicI64 = AtomicI64::new(1);
static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

fn next_id() -> i64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Now, in nanoseconds since the Unix epoch (0 means "never" in the counters).
fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

fn timestamp(nanos: &AtomicI64) -> Option<prost_types::Timestamp> {
    let nanos = nanos.load(Ordering::Relaxed);
    (nanos > 0).then_some(prost_types::Timestamp {
        seconds: nanos / 1_000_000_000,
        nanos: (nanos % 1_000_000_000) as i32,
    })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Nothing panics while holding these locks; if something did, the maps are still whole.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Every server, socket and channel recorded in this process.
#[derive(Default)]
struct Registry {
    servers: Mutex<BTreeMap<i64, Arc<ServerEntry>>>,
    /// Listening and accepted sockets, for `GetSocket`.
    sockets: Mutex<BTreeMap<i64, Arc<SocketEntry>>>,
    /// Held weakly: a channel is gone when its last clone is dropped.
    channels: Mutex<BTreeMap<i64, Weak<ChannelEntry>>>,
    /// Held weakly: a subchannel is gone when its channel's balancer drops it.
    subchannels: Mutex<BTreeMap<i64, Weak<SubchannelEntry>>>,
}

/// Call counters, shared by servers and channels.
#[derive(Debug, Default)]
struct Calls {
    started: AtomicI64,
    succeeded: AtomicI64,
    failed: AtomicI64,
    last_started: AtomicI64,
}

impl Calls {
    fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.last_started.store(now_nanos(), Ordering::Relaxed);
    }

    fn finish(&self, code: Code) {
        let counter = if code == Code::Ok {
            &self.succeeded
        } else {
            &self.failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Where one end of a socket is.
#[derive(Clone, Debug)]
pub(crate) enum Endpoint {
    Tcp(SocketAddr),
    Unix(String),
    /// An in-memory connection, or an address the OS would not tell.
    Other(&'static str),
}

impl Endpoint {
    fn to_proto(&self) -> proto::Address {
        use proto::address::{Address, OtherAddress, TcpIpAddress, UdsAddress};
        let address = match self {
            Endpoint::Tcp(addr) => Address::TcpipAddress(TcpIpAddress {
                ip_address: match addr.ip() {
                    std::net::IpAddr::V4(ip) => ip.octets().to_vec(),
                    std::net::IpAddr::V6(ip) => ip.octets().to_vec(),
                },
                port: i32::from(addr.port()),
            }),
            Endpoint::Unix(path) => Address::UdsAddress(UdsAddress {
                filename: path.clone(),
            }),
            Endpoint::Other(name) => Address::OtherAddress(OtherAddress {
                name: (*name).to_owned(),
                value: None,
            }),
        };
        proto::Address {
            address: Some(address),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(addr) => addr.fmt(f),
            Endpoint::Unix(path) => write!(f, "unix:{path}"),
            Endpoint::Other(name) => f.write_str(name),
        }
    }
}

/// A server recorded in channelz, from when it starts serving until it stops.
#[derive(Debug)]
pub(crate) struct ServerEntry {
    id: i64,
    name: String,
    calls: Calls,
    listen: Vec<i64>,
    /// The ids of its open connections.
    sockets: Mutex<BTreeSet<i64>>,
}

/// Keeps a server in the registry; dropping it (when the server has stopped) takes the server
/// and its listening socket out.
#[derive(Debug)]
pub(crate) struct ServerRegistration(Arc<ServerEntry>);

/// Records a server listening on `listen`.
pub(crate) fn register_server(listen: Endpoint) -> ServerRegistration {
    let listen_socket = Arc::new(SocketEntry::new(listen.clone(), None, None));
    let entry = Arc::new(ServerEntry {
        id: next_id(),
        name: listen.to_string(),
        calls: Calls::default(),
        listen: vec![listen_socket.id],
        sockets: Mutex::new(BTreeSet::new()),
    });
    lock(&REGISTRY.sockets).insert(listen_socket.id, listen_socket);
    lock(&REGISTRY.servers).insert(entry.id, entry.clone());
    ServerRegistration(entry)
}

impl ServerRegistration {
    /// Records a connection the server accepted.
    pub(crate) fn open_socket(
        &self,
        local: Endpoint,
        remote: Option<Endpoint>,
    ) -> SocketRegistration {
        let socket = Arc::new(SocketEntry::new(local, remote, Some(self.0.clone())));
        lock(&REGISTRY.sockets).insert(socket.id, socket.clone());
        lock(&self.0.sockets).insert(socket.id);
        SocketRegistration(socket)
    }
}

impl Drop for ServerRegistration {
    fn drop(&mut self) {
        lock(&REGISTRY.servers).remove(&self.0.id);
        let mut sockets = lock(&REGISTRY.sockets);
        for id in &self.0.listen {
            sockets.remove(id);
        }
    }
}

/// A socket recorded in channelz: a server's listening socket or one of its connections.
pub(crate) struct SocketEntry {
    id: i64,
    local: Endpoint,
    remote: Option<Endpoint>,
    /// The server that accepted this connection; `None` for a listening socket.
    server: Option<Arc<ServerEntry>>,
    streams_started: AtomicI64,
    streams_succeeded: AtomicI64,
    streams_failed: AtomicI64,
    messages_sent: AtomicI64,
    messages_received: AtomicI64,
    last_remote_stream: AtomicI64,
    last_message_sent: AtomicI64,
    last_message_received: AtomicI64,
    keep_alives_sent: AtomicI64,
    /// How the connection is secured, once its TLS handshake is done.
    security: OnceLock<proto::Security>,
}

impl fmt::Debug for SocketEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketEntry")
            .field("id", &self.id)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl SocketEntry {
    fn new(local: Endpoint, remote: Option<Endpoint>, server: Option<Arc<ServerEntry>>) -> Self {
        SocketEntry {
            id: next_id(),
            local,
            remote,
            server,
            streams_started: AtomicI64::new(0),
            streams_succeeded: AtomicI64::new(0),
            streams_failed: AtomicI64::new(0),
            messages_sent: AtomicI64::new(0),
            messages_received: AtomicI64::new(0),
            last_remote_stream: AtomicI64::new(0),
            last_message_sent: AtomicI64::new(0),
            last_message_received: AtomicI64::new(0),
            keep_alives_sent: AtomicI64::new(0),
            security: OnceLock::new(),
        }
    }

    /// Records the TLS session of the connection: its cipher suite and the client's
    /// certificate (the leaf), if it presented one.
    #[cfg(feature = "tls-core")]
    pub(crate) fn set_tls(&self, tls: &crate::tls::TlsInfo) {
        use proto::security::{tls::CipherSuite, Model, Tls};
        let remote_certificate = tls
            .peer_certificates
            .as_ref()
            .and_then(|chain| chain.first())
            .map(|leaf| leaf.to_vec())
            .unwrap_or_default();
        let _ = self.security.set(proto::Security {
            model: Some(Model::Tls(Tls {
                cipher_suite: tls
                    .cipher_suite
                    .map(|name| CipherSuite::StandardName(name.to_owned())),
                local_certificate: Vec::new(),
                remote_certificate,
            })),
        });
    }

    /// Counts a keepalive PING sent on the connection.
    pub(crate) fn keep_alive_sent(&self) {
        self.keep_alives_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn name(&self) -> String {
        match &self.remote {
            Some(remote) => format!("{} -> {remote}", self.local),
            None => self.local.to_string(),
        }
    }

    fn to_ref(&self) -> proto::SocketRef {
        proto::SocketRef {
            socket_id: self.id,
            name: self.name(),
        }
    }

    fn to_proto(&self, summary: bool) -> proto::Socket {
        let count = |n: &AtomicI64| n.load(Ordering::Relaxed);
        let data = proto::SocketData {
            streams_started: count(&self.streams_started),
            streams_succeeded: count(&self.streams_succeeded),
            streams_failed: count(&self.streams_failed),
            messages_sent: count(&self.messages_sent),
            messages_received: count(&self.messages_received),
            keep_alives_sent: count(&self.keep_alives_sent),
            last_remote_stream_created_timestamp: timestamp(&self.last_remote_stream),
            last_message_sent_timestamp: timestamp(&self.last_message_sent),
            last_message_received_timestamp: timestamp(&self.last_message_received),
            ..Default::default()
        };
        let mut socket = proto::Socket {
            r#ref: Some(self.to_ref()),
            data: Some(data),
            ..Default::default()
        };
        if !summary {
            socket.local = Some(self.local.to_proto());
            socket.remote = self.remote.as_ref().map(Endpoint::to_proto);
            socket.security = self.security.get().cloned();
        }
        socket
    }
}

/// Keeps a connection in the registry until the connection ends.
#[derive(Debug)]
pub(crate) struct SocketRegistration(Arc<SocketEntry>);

impl SocketRegistration {
    /// The counters, for the calls on this connection (their `Peer`).
    pub(crate) fn entry(&self) -> Arc<SocketEntry> {
        self.0.clone()
    }
}

impl Drop for SocketRegistration {
    fn drop(&mut self) {
        lock(&REGISTRY.sockets).remove(&self.0.id);
        if let Some(server) = &self.0.server {
            lock(&server.sockets).remove(&self.0.id);
        }
    }
}

/// The interceptor [`Server::channelz`](crate::Server::channelz) installs: counts each call on
/// its server and its connection.
#[derive(Debug)]
pub(crate) struct ServerCalls;

/// One call's counting on the server.
pub(crate) struct ServerCallObserver(Option<Arc<SocketEntry>>);

impl ServerInterceptor for ServerCalls {
    type Observer = ServerCallObserver;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<ServerCallObserver, Status> {
        let socket = call.peer.channelz.clone();
        if let Some(socket) = &socket {
            socket.streams_started.fetch_add(1, Ordering::Relaxed);
            socket
                .last_remote_stream
                .store(now_nanos(), Ordering::Relaxed);
            if let Some(server) = &socket.server {
                server.calls.start();
            }
        }
        Ok(ServerCallObserver(socket))
    }
}

impl CallObserver for ServerCallObserver {
    fn on_request(&mut self, _message: &Message<'_>) {
        if let Some(socket) = &self.0 {
            socket.messages_received.fetch_add(1, Ordering::Relaxed);
            socket
                .last_message_received
                .store(now_nanos(), Ordering::Relaxed);
        }
    }

    fn on_response(&mut self, _message: &Message<'_>) {
        if let Some(socket) = &self.0 {
            socket.messages_sent.fetch_add(1, Ordering::Relaxed);
            socket
                .last_message_sent
                .store(now_nanos(), Ordering::Relaxed);
        }
    }

    fn on_finish(&mut self, status: &Status, _trailers: &mut Metadata) {
        if let Some(socket) = &self.0 {
            let streams = if status.code() == Code::Cancelled {
                &socket.streams_failed
            } else {
                &socket.streams_succeeded
            };
            streams.fetch_add(1, Ordering::Relaxed);
            if let Some(server) = &socket.server {
                server.calls.finish(status.code());
            }
        }
    }
}

/// A channel recorded in channelz, for as long as any clone of it lives.
#[derive(Debug)]
pub(crate) struct ChannelEntry {
    id: i64,
    target: String,
    calls: Calls,
    /// The channel's connectivity state, as its balancer publishes it; set when the channel
    /// is built.
    snapshot: OnceLock<watch::Receiver<Snapshot>>,
    /// Its subchannels, in the balancer's order.
    subchannels: Mutex<Vec<Arc<SubchannelEntry>>>,
}

/// A subchannel of a recorded channel: one address and its connection.
#[derive(Debug)]
pub(crate) struct SubchannelEntry {
    id: i64,
    /// The balancer's id for it.
    local: u64,
    address: String,
    state: Mutex<ConnectivityState>,
}

fn state_to_proto(state: ConnectivityState) -> State {
    match state {
        ConnectivityState::Idle => State::Idle,
        ConnectivityState::Connecting => State::Connecting,
        ConnectivityState::Ready => State::Ready,
        ConnectivityState::TransientFailure => State::TransientFailure,
        ConnectivityState::Shutdown => State::Shutdown,
    }
}

impl SubchannelEntry {
    fn to_ref(&self) -> proto::SubchannelRef {
        proto::SubchannelRef {
            subchannel_id: self.id,
            name: self.address.clone(),
        }
    }

    fn to_proto(&self) -> proto::Subchannel {
        let state = *lock(&self.state);
        proto::Subchannel {
            r#ref: Some(self.to_ref()),
            data: Some(proto::ChannelData {
                state: Some(proto::ChannelConnectivityState {
                    state: state_to_proto(state) as i32,
                }),
                target: self.address.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl ChannelEntry {
    /// Reports the state the channel's balancer publishes on `snapshot`.
    pub(crate) fn follow_state(&self, snapshot: watch::Receiver<Snapshot>) {
        let _ = self.snapshot.set(snapshot);
    }

    fn state(&self) -> State {
        let Some(snapshot) = self.snapshot.get() else {
            return State::Unknown;
        };
        let state = snapshot.borrow().state;
        state_to_proto(state)
    }

    /// The balancer's subchannels now, as (its id, address, state): new ones get a channelz id,
    /// those no longer listed leave.
    pub(crate) fn set_subchannels(
        &self,
        now: impl Iterator<Item = (u64, String, ConnectivityState)>,
    ) {
        let mut subchannels = lock(&self.subchannels);
        let mut old = std::mem::take(&mut *subchannels);
        let mut added = Vec::new();
        for (local, address, state) in now {
            let entry = match old.iter().position(|s| s.local == local) {
                Some(at) => {
                    let entry = old.swap_remove(at);
                    *lock(&entry.state) = state;
                    entry
                }
                None => {
                    let entry = Arc::new(SubchannelEntry {
                        id: next_id(),
                        local,
                        address,
                        state: Mutex::new(state),
                    });
                    added.push(entry.clone());
                    entry
                }
            };
            subchannels.push(entry);
        }
        drop(subchannels);
        if !added.is_empty() || !old.is_empty() {
            let mut registry = lock(&REGISTRY.subchannels);
            for gone in &old {
                registry.remove(&gone.id);
            }
            for entry in &added {
                registry.insert(entry.id, Arc::downgrade(entry));
            }
        }
    }

    fn to_proto(&self) -> proto::Channel {
        let count = |n: &AtomicI64| n.load(Ordering::Relaxed);
        let state = self.state();
        proto::Channel {
            r#ref: Some(proto::ChannelRef {
                channel_id: self.id,
                name: self.target.clone(),
            }),
            data: Some(proto::ChannelData {
                state: Some(proto::ChannelConnectivityState {
                    state: state as i32,
                }),
                target: self.target.clone(),
                trace: None,
                calls_started: count(&self.calls.started),
                calls_succeeded: count(&self.calls.succeeded),
                calls_failed: count(&self.calls.failed),
                last_call_started_timestamp: timestamp(&self.calls.last_started),
            }),
            subchannel_ref: lock(&self.subchannels).iter().map(|s| s.to_ref()).collect(),
            ..Default::default()
        }
    }
}

impl Drop for ChannelEntry {
    fn drop(&mut self) {
        let subchannels = std::mem::take(&mut *lock(&self.subchannels));
        if !subchannels.is_empty() {
            let mut registry = lock(&REGISTRY.subchannels);
            for gone in &subchannels {
                registry.remove(&gone.id);
            }
        }
    }
}

/// The interceptor [`ChannelBuilder::channelz`](crate::client::ChannelBuilder::channelz)
/// installs: it holds the channel's entry (the registry holds it weakly, so it goes with the
/// channel) and counts each call.
#[derive(Debug)]
pub(crate) struct ChannelCalls(Arc<ChannelEntry>);

/// Records a channel to `target`; the returned interceptor keeps it recorded.
pub(crate) fn register_channel(target: &str) -> ChannelCalls {
    let entry = Arc::new(ChannelEntry {
        id: next_id(),
        target: target.to_owned(),
        calls: Calls::default(),
        snapshot: OnceLock::new(),
        subchannels: Mutex::new(Vec::new()),
    });
    let mut channels = lock(&REGISTRY.channels);
    channels.retain(|_, channel| channel.strong_count() > 0);
    channels.insert(entry.id, Arc::downgrade(&entry));
    ChannelCalls(entry)
}

impl ChannelCalls {
    /// The channel's record, for the builder to hand its state to.
    pub(crate) fn entry(&self) -> Arc<ChannelEntry> {
        self.0.clone()
    }
}

/// One call's counting on a channel.
pub(crate) struct ChannelCallObserver(Arc<ChannelEntry>);

impl ClientInterceptor for ChannelCalls {
    type Observer = ChannelCallObserver;

    async fn intercept(&self, _call: &mut OutgoingCall<'_>) -> Result<ChannelCallObserver, Status> {
        self.0.calls.start();
        Ok(ChannelCallObserver(self.0.clone()))
    }
}

impl CallObserver for ChannelCallObserver {
    fn on_finish(&mut self, status: &Status, _trailers: &mut Metadata) {
        self.0.calls.finish(status.code());
    }
}

/// The `grpc.channelz.v1.Channelz` service, answering from the process-wide registry: add
/// [`ChannelzService::server`] to a server, or use
/// [`Router::with_channelz`](crate::server::Router::with_channelz).
#[derive(Clone, Copy, Debug, Default)]
pub struct ChannelzService;

impl ChannelzService {
    /// The service, ready for [`Router::add_service`](crate::server::Router::add_service).
    pub fn server() -> ChannelzServer<ChannelzService> {
        ChannelzServer::new(ChannelzService)
    }
}

/// The page size a request asks for; negative is an error, 0 means the default.
fn page_size(max_results: i64) -> Result<usize, Status> {
    match max_results {
        n if n < 0 => Err(Status::invalid_argument(format!(
            "max_results must not be negative, got {n}"
        ))),
        0 => Ok(DEFAULT_PAGE),
        n => Ok(usize::try_from(n).unwrap_or(MAX_PAGE).min(MAX_PAGE)),
    }
}

/// The entries of `map` from id `start` on, at most `max` of them, and whether that is all.
fn page<T: Clone>(map: &BTreeMap<i64, T>, start: i64, max: usize) -> (Vec<T>, bool) {
    let mut entries = map.range(start.max(0)..).map(|(_, v)| v.clone());
    let page: Vec<T> = entries.by_ref().take(max).collect();
    let end = entries.next().is_none();
    (page, end)
}

fn server_to_proto(server: &ServerEntry) -> proto::Server {
    let count = |n: &AtomicI64| n.load(Ordering::Relaxed);
    let sockets = lock(&REGISTRY.sockets);
    proto::Server {
        r#ref: Some(proto::ServerRef {
            server_id: server.id,
            name: server.name.clone(),
        }),
        data: Some(proto::ServerData {
            trace: None,
            calls_started: count(&server.calls.started),
            calls_succeeded: count(&server.calls.succeeded),
            calls_failed: count(&server.calls.failed),
            last_call_started_timestamp: timestamp(&server.calls.last_started),
        }),
        listen_socket: server
            .listen
            .iter()
            .filter_map(|id| sockets.get(id).map(|s| s.to_ref()))
            .collect(),
    }
}

fn live_channels() -> BTreeMap<i64, Arc<ChannelEntry>> {
    let mut channels = lock(&REGISTRY.channels);
    channels.retain(|_, channel| channel.strong_count() > 0);
    channels
        .iter()
        .filter_map(|(id, channel)| Some((*id, channel.upgrade()?)))
        .collect()
}

impl Channelz for ChannelzService {
    async fn get_top_channels(
        &self,
        request: Request<proto::GetTopChannelsRequest>,
    ) -> Result<Response<proto::GetTopChannelsResponse>, Status> {
        let request = request.into_inner();
        let max = page_size(request.max_results)?;
        let (channels, end) = page(&live_channels(), request.start_channel_id, max);
        Ok(Response::new(proto::GetTopChannelsResponse {
            channel: channels.iter().map(|c| c.to_proto()).collect(),
            end,
        }))
    }

    async fn get_servers(
        &self,
        request: Request<proto::GetServersRequest>,
    ) -> Result<Response<proto::GetServersResponse>, Status> {
        let request = request.into_inner();
        let max = page_size(request.max_results)?;
        let (servers, end) = page(&lock(&REGISTRY.servers), request.start_server_id, max);
        Ok(Response::new(proto::GetServersResponse {
            server: servers.iter().map(|s| server_to_proto(s)).collect(),
            end,
        }))
    }

    async fn get_server(
        &self,
        request: Request<proto::GetServerRequest>,
    ) -> Result<Response<proto::GetServerResponse>, Status> {
        let id = request.get_ref().server_id;
        let server = lock(&REGISTRY.servers).get(&id).cloned();
        match server {
            Some(server) => Ok(Response::new(proto::GetServerResponse {
                server: Some(server_to_proto(&server)),
            })),
            None => Err(Status::not_found(format!("no server with id {id}"))),
        }
    }

    async fn get_server_sockets(
        &self,
        request: Request<proto::GetServerSocketsRequest>,
    ) -> Result<Response<proto::GetServerSocketsResponse>, Status> {
        let request = request.into_inner();
        let max = page_size(request.max_results)?;
        let id = request.server_id;
        let Some(server) = lock(&REGISTRY.servers).get(&id).cloned() else {
            return Err(Status::not_found(format!("no server with id {id}")));
        };
        let ids: Vec<i64> = lock(&server.sockets)
            .range(request.start_socket_id.max(0)..)
            .copied()
            .collect();
        let sockets = lock(&REGISTRY.sockets);
        let mut open = ids.iter().filter_map(|id| sockets.get(id));
        let socket_ref = open.by_ref().take(max).map(|s| s.to_ref()).collect();
        let end = open.next().is_none();
        Ok(Response::new(proto::GetServerSocketsResponse {
            socket_ref,
            end,
        }))
    }

    async fn get_channel(
        &self,
        request: Request<proto::GetChannelRequest>,
    ) -> Result<Response<proto::GetChannelResponse>, Status> {
        let id = request.get_ref().channel_id;
        let channel = lock(&REGISTRY.channels).get(&id).and_then(Weak::upgrade);
        match channel {
            Some(channel) => Ok(Response::new(proto::GetChannelResponse {
                channel: Some(channel.to_proto()),
            })),
            None => Err(Status::not_found(format!("no channel with id {id}"))),
        }
    }

    async fn get_subchannel(
        &self,
        request: Request<proto::GetSubchannelRequest>,
    ) -> Result<Response<proto::GetSubchannelResponse>, Status> {
        let id = request.get_ref().subchannel_id;
        let subchannel = lock(&REGISTRY.subchannels).get(&id).and_then(Weak::upgrade);
        match subchannel {
            Some(subchannel) => Ok(Response::new(proto::GetSubchannelResponse {
                subchannel: Some(subchannel.to_proto()),
            })),
            None => Err(Status::not_found(format!("no subchannel with id {id}"))),
        }
    }

    async fn get_socket(
        &self,
        request: Request<proto::GetSocketRequest>,
    ) -> Result<Response<proto::GetSocketResponse>, Status> {
        let request = request.into_inner();
        let id = request.socket_id;
        let socket = lock(&REGISTRY.sockets).get(&id).cloned();
        match socket {
            Some(socket) => Ok(Response::new(proto::GetSocketResponse {
                socket: Some(socket.to_proto(request.summary)),
            })),
            None => Err(Status::not_found(format!("no socket with id {id}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_start_at_the_id_and_say_when_they_end() {
        let map: BTreeMap<i64, i64> = (1..=5).map(|i| (i * 10, i)).collect();
        assert_eq!(page(&map, 0, 2), (vec![1, 2], false));
        assert_eq!(page(&map, 21, 2), (vec![3, 4], false));
        assert_eq!(page(&map, 41, 2), (vec![5], true));
        assert_eq!(page(&map, 50, 1), (vec![5], true));
        assert_eq!(page(&map, 51, 2), (vec![], true));
        assert_eq!(page(&map, -3, 100), (vec![1, 2, 3, 4, 5], true));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0).ok(), Some(DEFAULT_PAGE));
        assert_eq!(page_size(7).ok(), Some(7));
        assert_eq!(page_size(i64::MAX).ok(), Some(MAX_PAGE));
        assert_eq!(
            page_size(-1).map_err(|s| s.code()).err(),
            Some(Code::InvalidArgument)
        );
    }

    #[test]
    fn addresses_in_proto_form() {
        use proto::address::Address;
        let tcp = Endpoint::Tcp("127.0.0.1:5000".parse().unwrap()).to_proto();
        match tcp.address {
            Some(Address::TcpipAddress(a)) => {
                assert_eq!(a.ip_address, vec![127, 0, 0, 1]);
                assert_eq!(a.port, 5000);
            }
            other => panic!("{other:?}"),
        }
        let v6 = Endpoint::Tcp("[::1]:1".parse().unwrap()).to_proto();
        assert!(matches!(v6.address, Some(Address::TcpipAddress(a)) if a.ip_address.len() == 16));
        assert!(matches!(
            Endpoint::Other("memory").to_proto().address,
            Some(Address::OtherAddress(a)) if a.name == "memory"
        ));
    }

    #[test]
    fn a_dropped_server_and_its_sockets_leave_the_registry() {
        let server = register_server(Endpoint::Other("memory"));
        let id = server.0.id;
        let listen = server.0.listen[0];
        let socket = server.open_socket(Endpoint::Other("memory"), None);
        let socket_id = socket.0.id;
        assert!(lock(&REGISTRY.sockets).contains_key(&socket_id));
        assert!(lock(&server.0.sockets).contains(&socket_id));
        drop(socket);
        assert!(!lock(&REGISTRY.sockets).contains_key(&socket_id));
        assert!(lock(&server.0.sockets).is_empty());
        drop(server);
        assert!(!lock(&REGISTRY.servers).contains_key(&id));
        assert!(!lock(&REGISTRY.sockets).contains_key(&listen));
    }

    #[test]
    fn a_dropped_channel_leaves_the_registry() {
        let channel = register_channel("http://example:1");
        let id = channel.0.id;
        assert!(live_channels().contains_key(&id));
        drop(channel);
        assert!(!live_channels().contains_key(&id));
    }
}
