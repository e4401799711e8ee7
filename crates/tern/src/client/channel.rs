//! `Channel`: the client's way to a server, shared by every call and every client cloned from
//! it. A target (see [`target`](super::target) for every form: `dns:`, `unix:`,
//! `unix-abstract:`, `ipv4:`, `ipv6:`, `http(s)://`, bare `host:port`) is resolved to addresses;
//! each address gets a subchannel, one HTTP/2 connection on which calls are multiplexed as
//! streams; a load-balancing policy (pick_first by default, or round_robin) picks the connection
//! for each call. The channel has gRPC's connectivity state, readable and watchable; a lost
//! connection is redialed with gRPC's connection backoff, and the target resolved again.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::uri::{Authority, Scheme};
use tokio::sync::{mpsc, watch};

use super::backoff::BackoffConfig;
use super::balancer::{
    Balancer, Command, ConnectivityState, IdleClock, LoadBalancing, Snapshot, Source,
};
use super::resolver::{DnsResolver, Resolver};
use super::retry::Throttle;
use super::service_config::ServiceConfig;
use super::subchannel::{Dialer, Endpoint, ReadyConn};
use super::target::{self, Target};
use crate::credentials::Credentials;
use crate::error::{Error, ErrorKind};
use crate::interceptor::chain::ClientChain;
use crate::interceptor::ClientInterceptor;
use crate::status::Status;
use crate::transport::client::{Keepalive, PendingResponse};
use crate::transport::{Http2Settings, SendBody};

/// A channel to a gRPC server (or to the several addresses of one), cheap to clone; every clone
/// shares its connections.
///
/// ```no_run
/// # async fn f() -> Result<(), tern::Error> {
/// use tern::client::LoadBalancing;
///
/// let channel = tern::Channel::connect("http://127.0.0.1:5000").await?;
/// let local = tern::Channel::connect("unix:/run/hello.sock").await?;
/// let secure = tern::Channel::connect("https://api.example.com").await?; // the system's roots
/// let tuned = tern::Channel::builder("http://127.0.0.1:5000")?
///     .keepalive_interval(std::time::Duration::from_secs(30))
///     .connect()
///     .await?;
/// // Every address DNS gives for the name, calls rotating over them.
/// let spread = tern::Channel::builder("dns:///orders.internal:50051")?
///     .load_balancing(LoadBalancing::RoundRobin)
///     .lazy();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Channel {
    inner: Arc<Inner>,
}

struct Inner {
    target: String,
    scheme: Scheme,
    authority: Authority,
    credentials: Option<Credentials>,
    interceptors: ClientChain,
    service_config: Option<Arc<ServiceConfig>>,
    /// When the last call started, for the idle timeout.
    idle_clock: Option<Arc<IdleClock>>,
    /// The service config's retry throttle, shared by every call on the channel.
    throttle: Option<Throttle>,
    /// What calls pick from, published by the balancer.
    snapshot: watch::Receiver<Snapshot>,
    commands: mpsc::UnboundedSender<Command>,
    /// The balancer until its task starts, on first use (a lazy channel needs no runtime).
    balancer: Mutex<Option<Balancer>>,
    started: AtomicBool,
    /// round_robin's rotation.
    next: AtomicUsize,
}

impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Channel")
            .field("target", &self.inner.target)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Settings for a [`Channel`], from [`Channel::builder`].
#[derive(Debug)]
pub struct ChannelBuilder {
    target: String,
    source: Source,
    authority: Authority,
    /// Whether the target asked for TLS (`https://`).
    secure: bool,
    in_memory: bool,
    #[cfg(feature = "tls-core")]
    tls: Option<crate::tls::ClientTlsConfig>,
    /// The name checked in the server's certificate when not overridden.
    target_tls_name: String,
    /// The name checked in the server's certificate, when not the target's host.
    tls_name: Option<String>,
    settings: Http2Settings,
    credentials: Option<Credentials>,
    keepalive_interval: Option<Duration>,
    keepalive_timeout: Duration,
    backoff: BackoffConfig,
    policy: LoadBalancing,
    min_resolution_interval: Duration,
    interceptors: ClientChain,
    service_config: Option<Arc<ServiceConfig>>,
    idle_timeout: Option<Duration>,
    /// The channel's channelz record, when it asked for one.
    channelz: Option<Arc<crate::services::channelz::ChannelEntry>>,
}

impl ChannelBuilder {
    /// Closes the channel's connections after this long without a new call, and opens them
    /// again on the next one (gRPC's idle mode; default 30 minutes; `None` never idles). Calls
    /// still running on a connection keep it until they end.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> ChannelBuilder {
        self.idle_timeout = timeout;
        self
    }

    /// Gives the channel a service config (gRFC A2's JSON: per-method timeouts, wait-for-ready,
    /// message size limits, retry and hedging policies, the load-balancing policy), used as the
    /// default a resolver's config would replace. Its load-balancing policy, if it names one,
    /// replaces the channel's; a later [`load_balancing`](Self::load_balancing) wins over it.
    /// An invalid config is an error that names the field at fault.
    pub fn default_service_config(mut self, json: &str) -> Result<ChannelBuilder, Error> {
        let config = ServiceConfig::from_json(json)
            .map_err(|e| Error::new(ErrorKind::InvalidConfig, "service config", e))?;
        if let Some(policy) = config.load_balancing {
            self.policy = policy;
        }
        self.service_config = Some(Arc::new(config));
        Ok(self)
    }

    /// Records the channel in channelz ([`services::channelz`](crate::services::channelz)):
    /// its target, connectivity state and calls started, succeeded and failed, shown by any
    /// channelz service in the process, until the channel's last clone is dropped. Its counter
    /// runs before every interceptor, whenever this is called, so it sees every call.
    pub fn channelz(mut self) -> ChannelBuilder {
        if self.channelz.is_none() {
            let calls = crate::services::channelz::register_channel(&self.target);
            self.channelz = Some(calls.entry());
            self.interceptors.0.insert(0, Arc::new(calls));
        }
        self
    }

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

    /// How long one connection attempt (TCP connect, TLS handshake and the server's first
    /// HTTP/2 frame) may take at least: gRPC's minimum connect timeout, 20 s by default. An
    /// attempt is given the current backoff instead when that is longer (see
    /// [`connect_backoff`](Self::connect_backoff)).
    pub fn connect_timeout(mut self, timeout: Duration) -> ChannelBuilder {
        self.backoff.min_connect_timeout = timeout;
        self
    }

    /// The backoff between connection attempts to an address: gRPC's connection backoff, by
    /// default its specification's numbers (1 s, x1.6, jitter 0.2, at most 120 s, 20 s minimum
    /// connect timeout). Replaces any [`connect_timeout`](Self::connect_timeout) set before.
    pub fn connect_backoff(mut self, backoff: BackoffConfig) -> ChannelBuilder {
        self.backoff = backoff;
        self
    }

    /// How calls are spread over the target's addresses: [`LoadBalancing::PickFirst`] (the
    /// default) or [`LoadBalancing::RoundRobin`].
    pub fn load_balancing(mut self, policy: LoadBalancing) -> ChannelBuilder {
        self.policy = policy;
        self
    }

    /// Finds the servers' addresses with this resolver instead of the target's (the target
    /// still gives `:authority`, the TLS name and the scheme).
    pub fn resolver(mut self, resolver: impl Resolver) -> ChannelBuilder {
        self.source = Source::Resolver(Arc::new(resolver));
        self
    }

    /// The least time between two resolutions of the target (default 30 s): a lost connection,
    /// a GOAWAY or every address failing asks for one, and waits this long after the last.
    pub fn min_resolution_interval(mut self, interval: Duration) -> ChannelBuilder {
        self.min_resolution_interval = interval;
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
        self.source = Source::Fixed(vec![Endpoint::Memory(connector)]);
        self.in_memory = true;
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
            let name = match (&self.tls_name, self.in_memory) {
                (Some(name), _) => name.clone(),
                (None, true) => self.authority.host().to_owned(),
                (None, false) => self.target_tls_name.clone(),
            };
            config
                .build()
                .and_then(|tls| crate::tls::TlsConnect::new(tls, &name))
                .map_err(|e| e.to_string())
        });
        let dialer = Arc::new(Dialer {
            authority: self.authority.clone(),
            #[cfg(feature = "tls-core")]
            tls,
            settings: self.settings,
            keepalive: self.keepalive_interval.map(|interval| Keepalive {
                interval,
                timeout: self.keepalive_timeout,
            }),
            backoff: self.backoff,
        });
        let (state, snapshot) = watch::channel(Snapshot::idle());
        if let Some(channelz) = &self.channelz {
            channelz.follow_state(snapshot.clone());
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        let idle_clock = self.idle_timeout.map(|_| Arc::new(IdleClock::new()));
        let balancer = Balancer {
            dialer,
            source: self.source,
            policy: self.policy,
            min_resolution_interval: self.min_resolution_interval,
            target: self.target.clone(),
            state,
            commands: receiver,
            channelz: self.channelz.as_ref().map(Arc::downgrade),
            idle_timeout: self.idle_timeout.zip(idle_clock.clone()),
        };
        Channel {
            inner: Arc::new(Inner {
                target: self.target,
                scheme: if self.secure {
                    Scheme::HTTPS
                } else {
                    Scheme::HTTP
                },
                authority: self.authority,
                credentials: self.credentials,
                interceptors: self.interceptors,
                throttle: self
                    .service_config
                    .as_ref()
                    .and_then(|c| c.retry_throttling.as_ref())
                    .map(Throttle::new),
                service_config: self.service_config,
                idle_clock,
                snapshot,
                commands,
                balancer: Mutex::new(Some(balancer)),
                started: AtomicBool::new(false),
                next: AtomicUsize::new(0),
            }),
        }
    }

    /// Connects now, failing if the server cannot be reached: waits until a connection is
    /// READY, or until every address has failed once (pick_first's first pass; for
    /// round_robin, every address), and then fails with the last address's error.
    pub async fn connect(self) -> Result<Channel, Error> {
        let channel = self.lazy();
        channel.ensure_started();
        let mut snapshot = channel.inner.snapshot.clone();
        let settled = snapshot
            .wait_for(|s| {
                matches!(
                    s.state,
                    ConnectivityState::Ready
                        | ConnectivityState::TransientFailure
                        | ConnectivityState::Shutdown
                )
            })
            .await;
        let failure = match settled {
            Ok(s) if s.state == ConnectivityState::Ready => None,
            Ok(s) => Some(s.failure.clone()),
            Err(_) => Some(None),
        };
        match failure {
            None => Ok(channel),
            Some(Some(failure)) => Err(Error::msg(failure.kind, failure.message)),
            Some(None) => Err(Error::msg(
                ErrorKind::Connect,
                format!("could not connect to {}", channel.inner.target),
            )),
        }
    }
}

/// What a call gets from the snapshot.
enum Pick {
    Conn(Arc<ReadyConn>),
    /// IDLE: ask the balancer to connect, then wait.
    Idle,
    /// CONNECTING: wait.
    Wait,
    /// TRANSIENT_FAILURE: fail fast, unless the call waits for ready.
    Fail(Status),
    Shutdown,
}

impl Channel {
    /// Connects to `target` now, failing if it cannot. Any form of
    /// [target](super::target): `http://host:port` or `host:port` (cleartext),
    /// `https://host:port` (TLS, verified against the system's roots), `dns:///host:port`,
    /// `unix:/path/to/socket`, `unix-abstract:name`, `ipv4:a:p,b:p`, `ipv6:[a]:p,[b]:p`.
    pub async fn connect(target: &str) -> Result<Channel, Error> {
        Channel::builder(target)?.connect().await
    }

    /// A channel to `target` that connects on its first call.
    pub fn lazy(target: &str) -> Result<Channel, Error> {
        Ok(Channel::builder(target)?.lazy())
    }

    /// Settings for a channel to `target`.
    pub fn builder(target: &str) -> Result<ChannelBuilder, Error> {
        let parsed = target::parse(target)?;
        let source = match parsed.target {
            Target::Dns { host, port, .. } => {
                Source::Resolver(Arc::new(DnsResolver::new(host, port)))
            }
            Target::Fixed(addresses) => {
                Source::Fixed(addresses.into_iter().map(Endpoint::Net).collect())
            }
        };
        Ok(ChannelBuilder {
            target: target.to_owned(),
            source,
            authority: parsed.authority,
            secure: parsed.secure,
            in_memory: false,
            #[cfg(feature = "tls-core")]
            tls: None,
            target_tls_name: parsed.tls_name,
            tls_name: None,
            settings: Http2Settings::default(),
            credentials: None,
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(20),
            backoff: BackoffConfig::default(),
            policy: LoadBalancing::default(),
            min_resolution_interval: Duration::from_secs(30),
            interceptors: ClientChain::default(),
            service_config: None,
            idle_timeout: Some(Duration::from_secs(30 * 60)),
            channelz: None,
        })
    }

    /// The channel's connectivity state now. Reading it does not make the channel connect.
    pub fn state(&self) -> ConnectivityState {
        self.inner.snapshot.borrow().state
    }

    /// Waits until the state is other than `last`, and returns the new one (at once if it
    /// already is). States between two looks may be missed: what is returned is the state now.
    ///
    /// ```no_run
    /// # async fn f(channel: tern::Channel) {
    /// use tern::client::ConnectivityState;
    /// let mut state = channel.state();
    /// while state != ConnectivityState::Shutdown {
    ///     state = channel.wait_for_state_change(state).await;
    ///     println!("channel is {state}");
    /// }
    /// # }
    /// ```
    pub async fn wait_for_state_change(&self, last: ConnectivityState) -> ConnectivityState {
        let mut snapshot = self.inner.snapshot.clone();
        let result = snapshot.wait_for(|s| s.state != last).await;
        match result {
            Ok(s) => s.state,
            Err(_) => ConnectivityState::Shutdown,
        }
    }

    /// Shuts the channel down for every clone: new calls fail with UNAVAILABLE, calls in
    /// flight finish on their connections, which then close; the state becomes SHUTDOWN.
    pub fn shutdown(&self) {
        let unstarted = self
            .inner
            .balancer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.inner.started.store(true, Ordering::Release);
        match unstarted {
            Some(balancer) => balancer.shut_down(),
            None => {
                let _ = self.inner.commands.send(Command::Shutdown);
            }
        }
    }

    pub(crate) fn scheme(&self) -> &Scheme {
        &self.inner.scheme
    }

    pub(crate) fn is_secure(&self) -> bool {
        self.inner.scheme == Scheme::HTTPS
    }

    pub(crate) fn retry_throttle(&self) -> Option<&Throttle> {
        self.inner.throttle.as_ref()
    }

    /// The service config the channel was given, if any.
    pub fn service_config(&self) -> Option<&ServiceConfig> {
        self.inner.service_config.as_deref()
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

    /// Starts the balancer's task, once.
    fn ensure_started(&self) {
        if self.inner.started.load(Ordering::Acquire) {
            return;
        }
        let balancer = self
            .inner
            .balancer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        self.inner.started.store(true, Ordering::Release);
        if let Some(balancer) = balancer {
            tokio::spawn(balancer.run());
        }
    }

    fn pick(&self, snapshot: &Snapshot) -> Pick {
        match snapshot.state {
            ConnectivityState::Ready if !snapshot.ready.is_empty() => {
                let n = snapshot.ready.len();
                let at = if n == 1 {
                    0
                } else {
                    self.inner.next.fetch_add(1, Ordering::Relaxed) % n
                };
                Pick::Conn(snapshot.ready[at].clone())
            }
            ConnectivityState::Ready | ConnectivityState::Connecting => Pick::Wait,
            ConnectivityState::Idle => Pick::Idle,
            ConnectivityState::TransientFailure => {
                Pick::Fail(Status::unavailable(snapshot.failure.as_ref().map_or_else(
                    || format!("cannot connect to {}", self.inner.target),
                    |f| f.message.clone(),
                )))
            }
            ConnectivityState::Shutdown => Pick::Shutdown,
        }
    }

    /// Opens a stream for a call on a READY connection. With none READY, the call waits while
    /// the channel is IDLE or CONNECTING, and fails with UNAVAILABLE in TRANSIENT_FAILURE unless
    /// `wait_for_ready`, when it waits for READY too (the caller's deadline bounds every wait).
    /// A connection that turns out to be closed or going away is dropped and the call picks
    /// again: nothing of it was sent, so this is always safe.
    pub(crate) async fn start(
        &self,
        head: http::Request<()>,
        wait_for_ready: bool,
    ) -> Result<(PendingResponse, SendBody), Status> {
        self.ensure_started();
        if let Some(clock) = &self.inner.idle_clock {
            clock.touch();
        }
        let mut watching: Option<watch::Receiver<Snapshot>> = None;
        loop {
            let pick = match watching.as_mut() {
                Some(snapshot) => self.pick(&snapshot.borrow_and_update()),
                None => self.pick(&self.inner.snapshot.borrow()),
            };
            match pick {
                Pick::Conn(conn) => match conn.conn.ready().await {
                    Ok(ready) => return ready.start(head),
                    Err(status) => {
                        tracing::debug!(%status, "connection unusable; picking again");
                        conn.mark_lost();
                    }
                },
                Pick::Fail(status) if !wait_for_ready => return Err(status),
                Pick::Shutdown => return Err(Status::unavailable("the channel was shut down")),
                Pick::Idle => {
                    let _ = self.inner.commands.send(Command::Connect);
                }
                Pick::Fail(_) | Pick::Wait => {}
            }
            let snapshot = watching.get_or_insert_with(|| self.inner.snapshot.clone());
            if snapshot.changed().await.is_err() {
                return Err(Status::unavailable("the channel was shut down"));
            }
        }
    }
}
