//! The balancer: the task behind a [`Channel`](crate::Channel) that owns its subchannels. It
//! resolves the target (and again when a connection is lost, GOAWAY arrives or every address has
//! failed, rate-limited), keeps one subchannel per address, runs the load-balancing policy over
//! their states, and publishes what calls need as one snapshot: the channel's connectivity
//! state and the READY connections to pick from.
//!
//! Calls never take a lock the balancer holds for long: the snapshot sits in a
//! `tokio::sync::watch`, which calls read under its read lock for as long as it takes to clone
//! one `Arc` (round_robin's rotation is an atomic counter beside it); the balancer takes the
//! write lock only to swap in a new snapshot, when a state changes.
//!
//! The policies, as gRPC defines them:
//! - **pick_first** (gRFC A62): tries the addresses in order, one at a time, and keeps the
//!   first that connects, closing the others. Once every address has failed, the channel is in
//!   TRANSIENT_FAILURE and stays there ("sticky") while each address retries on its own backoff,
//!   until one connects. When the chosen connection is lost, the channel goes IDLE and starts
//!   over on the next call.
//! - **round_robin**: connects to every address, rotates calls over the READY ones, reconnects
//!   each one that is lost at once (then with backoff), and reports TRANSIENT_FAILURE only when
//!   every address is failing.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::backoff::{Backoff, BackoffConfig};
use super::resolver::{Address, Resolver};
use super::subchannel::{Dialer, Endpoint, ReadyConn, SubEvent, SubState, Subchannel};
use crate::error::ErrorKind;

/// How long one resolution may take before it counts as failed.
const RESOLUTION_TIMEOUT: Duration = Duration::from_secs(30);

/// A channel's connectivity state, as gRPC defines it (`doc/connectivity-semantics-and-api.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnectivityState {
    /// No connection and none being made: a new lazy channel, or a pick_first channel whose
    /// connection was lost. The next call connects.
    Idle,
    /// Connecting, and no connection is READY yet.
    Connecting,
    /// A connection is ready for calls.
    Ready,
    /// Every address has failed; the channel keeps trying with backoff. Calls fail at once with
    /// UNAVAILABLE, unless they asked to wait for ready.
    TransientFailure,
    /// The channel was shut down ([`Channel::shutdown`](crate::Channel::shutdown)): calls fail
    /// with UNAVAILABLE. The one state that never changes.
    Shutdown,
}

impl fmt::Display for ConnectivityState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectivityState::Idle => "IDLE",
            ConnectivityState::Connecting => "CONNECTING",
            ConnectivityState::Ready => "READY",
            ConnectivityState::TransientFailure => "TRANSIENT_FAILURE",
            ConnectivityState::Shutdown => "SHUTDOWN",
        })
    }
}

/// How a channel spreads calls over its server's addresses; set with
/// [`ChannelBuilder::load_balancing`](super::ChannelBuilder::load_balancing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoadBalancing {
    /// gRPC's default: one connection, to the first address that works (gRFC A62).
    #[default]
    PickFirst,
    /// A connection to every address; calls rotate over the ready ones.
    RoundRobin,
}

/// Why the channel is in TRANSIENT_FAILURE.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

/// What calls read: the state, and the connections to pick from.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub(crate) state: ConnectivityState,
    pub(crate) ready: Vec<Arc<ReadyConn>>,
    pub(crate) failure: Option<Failure>,
}

impl Snapshot {
    pub(crate) fn idle() -> Snapshot {
        Snapshot {
            state: ConnectivityState::Idle,
            ready: Vec::new(),
            failure: None,
        }
    }
}

/// When the channel last started a call, for the idle timeout: written by every call (one
/// relaxed store of a millisecond count), read by the balancer when its idle timer fires.
#[derive(Debug)]
pub(crate) struct IdleClock {
    epoch: Instant,
    last_call_ms: std::sync::atomic::AtomicU64,
}

impl IdleClock {
    pub(crate) fn new() -> IdleClock {
        IdleClock {
            epoch: Instant::now(),
            last_call_ms: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// A call is starting.
    pub(crate) fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_call_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    fn last_call(&self) -> Instant {
        self.epoch
            + Duration::from_millis(self.last_call_ms.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Where the addresses come from.
#[derive(Debug)]
pub(crate) enum Source {
    Resolver(Arc<dyn Resolver>),
    /// Given by the target itself (or an in-memory server): never re-resolved.
    Fixed(Vec<Endpoint>),
}

/// What a channel asks of its balancer.
#[derive(Debug)]
pub(crate) enum Command {
    /// Leave IDLE: a call is waiting.
    Connect,
    /// Close everything and report SHUTDOWN.
    Shutdown,
}

/// A balancer not yet running; [`run`](Self::run) it on a task.
#[derive(Debug)]
pub(crate) struct Balancer {
    pub(crate) dialer: Arc<Dialer>,
    pub(crate) source: Source,
    pub(crate) policy: LoadBalancing,
    pub(crate) min_resolution_interval: Duration,
    /// The target, for messages.
    pub(crate) target: String,
    pub(crate) state: watch::Sender<Snapshot>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    /// How long without a new call before the channel goes IDLE (its connections closed, opened
    /// again by the next call), and the clock calls keep.
    pub(crate) idle_timeout: Option<(Duration, Arc<IdleClock>)>,
    /// The channel's channelz record, told of the subchannels; weak, so that the record goes
    /// with the channel, not with this task.
    pub(crate) channelz: Option<std::sync::Weak<crate::services::channelz::ChannelEntry>>,
}

impl Balancer {
    /// Publishes SHUTDOWN without ever having run.
    pub(crate) fn shut_down(self) {
        self.state.send_replace(Snapshot {
            state: ConnectivityState::Shutdown,
            ready: Vec::new(),
            failure: None,
        });
    }

    /// Runs until the channel is shut down or dropped.
    pub(crate) async fn run(self) {
        let Balancer {
            dialer,
            source,
            policy,
            min_resolution_interval,
            target,
            state,
            mut commands,
            channelz,
            idle_timeout,
        } = self;
        let (events_tx, mut events) = mpsc::unbounded_channel();
        let mut run = Run {
            dialer,
            policy,
            events: events_tx,
            subchannels: Vec::new(),
            next_id: 0,
            idle: false,
            pass: 0,
            selected: None,
            failure: None,
            resolution_failure: None,
            want_resolution: false,
            state,
            channelz,
        };
        let resolver = match source {
            Source::Fixed(endpoints) => {
                run.update(endpoints);
                None
            }
            Source::Resolver(resolver) => Some(resolver),
        };
        let mut resolution = Resolution {
            resolver,
            running: None,
            last: None,
            at: None,
            interval: min_resolution_interval,
            backoff: Backoff::random(BackoffConfig::default()),
        };
        resolution.start();
        run.publish();
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Connect) => run.exit_idle(),
                    Some(Command::Shutdown) | None => break,
                },
                Some((id, event)) = events.recv() => run.on_event(id, event),
                result = async {
                    match resolution.running.as_mut() {
                        Some(running) => running.await,
                        None => std::future::pending().await,
                    }
                } => {
                    resolution.running = None;
                    match result {
                        Ok(Ok(addresses)) if !addresses.is_empty() => {
                            resolution.backoff.reset();
                            run.resolution_failure = None;
                            run.update(addresses.into_iter().map(Endpoint::Net).collect());
                        }
                        outcome => {
                            let why = match outcome {
                                Ok(Err(why)) => why,
                                Ok(Ok(_)) => "it found no addresses".to_owned(),
                                Err(_) => "the resolver stopped".to_owned(),
                            };
                            tracing::debug!(target_uri = %target, %why, "resolution failed");
                            run.resolution_failure = Some(Failure {
                                kind: ErrorKind::Connect,
                                message: format!("resolving {target} failed: {why}"),
                            });
                            // With no addresses yet, try again on a backoff of its own.
                            if run.subchannels.is_empty() {
                                let wait = resolution.backoff.next_attempt().next_after;
                                resolution.at = Some(Instant::now() + wait);
                            }
                        }
                    }
                }
                () = async {
                    match resolution.at {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => {
                    resolution.at = None;
                    resolution.start();
                }
                () = async {
                    match (&idle_timeout, run.idle) {
                        (Some((timeout, clock)), false) => {
                            tokio::time::sleep_until(clock.last_call() + *timeout).await
                        }
                        _ => std::future::pending().await,
                    }
                } => {
                    if let Some((timeout, clock)) = &idle_timeout {
                        if clock.last_call().elapsed() >= *timeout {
                            run.enter_idle();
                        }
                    }
                }
            }
            if std::mem::take(&mut run.want_resolution) {
                resolution.request();
            }
            run.publish();
        }
        run.subchannels.clear();
        if let Some(channelz) = run.channelz.as_ref().and_then(|c| c.upgrade()) {
            channelz.set_subchannels(std::iter::empty());
        }
        run.state.send_replace(Snapshot {
            state: ConnectivityState::Shutdown,
            ready: Vec::new(),
            failure: None,
        });
    }
}

/// When to resolve, and the resolution under way.
struct Resolution {
    resolver: Option<Arc<dyn Resolver>>,
    running: Option<oneshot::Receiver<Result<Vec<Address>, String>>>,
    last: Option<Instant>,
    at: Option<Instant>,
    interval: Duration,
    /// Between failed resolutions while there are no addresses at all.
    backoff: Backoff,
}

impl Resolution {
    /// Resolves now, on a task of its own.
    fn start(&mut self) {
        let Some(resolver) = self.resolver.clone() else {
            return;
        };
        if self.running.is_some() {
            return;
        }
        self.last = Some(Instant::now());
        let (tx, rx) = oneshot::channel();
        self.running = Some(rx);
        tokio::spawn(async move {
            let result = match tokio::time::timeout(RESOLUTION_TIMEOUT, resolver.resolve()).await {
                Ok(Ok(addresses)) => Ok(addresses),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {RESOLUTION_TIMEOUT:?}")),
            };
            let _ = tx.send(result);
        });
    }

    /// Resolves again as soon as the minimum interval since the last resolution allows.
    fn request(&mut self) {
        if self.resolver.is_none() || self.running.is_some() {
            return;
        }
        let now = Instant::now();
        let earliest = self.last.map_or(now, |last| last + self.interval);
        if earliest <= now {
            self.at = None;
            self.start();
        } else if self.at.is_none_or(|at| at > earliest) {
            self.at = Some(earliest);
        }
    }
}

/// The balancer's working state.
struct Run {
    dialer: Arc<Dialer>,
    policy: LoadBalancing,
    events: mpsc::UnboundedSender<(u64, SubEvent)>,
    /// In the resolver's order.
    subchannels: Vec<Subchannel>,
    next_id: u64,
    /// The channel is IDLE: nothing connects until a call asks.
    idle: bool,
    /// pick_first: the address the first pass is at.
    pass: usize,
    /// pick_first: the subchannel in use.
    selected: Option<u64>,
    /// The last connection failure.
    failure: Option<Failure>,
    resolution_failure: Option<Failure>,
    want_resolution: bool,
    state: watch::Sender<Snapshot>,
    channelz: Option<std::sync::Weak<crate::services::channelz::ChannelEntry>>,
}

impl Run {
    fn spawn(&mut self, endpoint: Endpoint) -> Subchannel {
        self.next_id += 1;
        Subchannel::spawn(
            self.next_id,
            endpoint,
            self.dialer.clone(),
            self.events.clone(),
        )
    }

    /// A new address list: keeps the subchannels of addresses still in it, in the new order.
    fn update(&mut self, endpoints: Vec<Endpoint>) {
        let mut old = std::mem::take(&mut self.subchannels);
        for endpoint in endpoints {
            if self.subchannels.iter().any(|s| s.endpoint.same(&endpoint)) {
                continue; // listed twice
            }
            let sub = match old.iter().position(|s| s.endpoint.same(&endpoint)) {
                Some(at) => old.swap_remove(at),
                None => self.spawn(endpoint),
            };
            self.subchannels.push(sub);
        }
        drop(old);
        if let Some(id) = self.selected {
            if self.subchannels.iter().any(|s| s.id == id) {
                return;
            }
            self.selected = None;
        }
        if !self.idle {
            self.start_connecting();
        }
    }

    fn start_connecting(&mut self) {
        match self.policy {
            LoadBalancing::PickFirst => {
                self.pass = 0;
                self.advance_pass();
            }
            LoadBalancing::RoundRobin => {
                for sub in &mut self.subchannels {
                    sub.connect();
                }
            }
        }
    }

    /// No call for the idle timeout: closes every connection (calls still running on one keep
    /// it until they end) and waits for the next call, as gRPC's idle mode does.
    fn enter_idle(&mut self) {
        tracing::debug!("channel idle: closing its connections");
        let endpoints: Vec<Endpoint> = self
            .subchannels
            .drain(..)
            .map(|s| s.endpoint.clone())
            .collect();
        self.selected = None;
        self.idle = true;
        for endpoint in endpoints {
            let sub = self.spawn(endpoint);
            self.subchannels.push(sub);
        }
    }

    fn exit_idle(&mut self) {
        if self.idle {
            self.idle = false;
            self.start_connecting();
        }
    }

    /// pick_first's first pass: asks the next untried address to connect, or notes that every
    /// address has failed.
    fn advance_pass(&mut self) {
        if self.selected.is_some() {
            return;
        }
        while let Some(sub) = self.subchannels.get_mut(self.pass) {
            match &sub.state {
                SubState::Idle => return sub.connect(),
                SubState::Ready(_) => return self.select(self.pass),
                SubState::Connecting if !sub.failing => return,
                SubState::Connecting | SubState::Failed => self.pass += 1,
            }
        }
        // Every address failed once: sticky TRANSIENT_FAILURE, while each retries on its own.
        self.want_resolution = true;
    }

    /// pick_first: uses this subchannel and closes the others.
    fn select(&mut self, index: usize) {
        let Some(id) = self.subchannels.get(index).map(|s| s.id) else {
            return;
        };
        self.selected = Some(id);
        for i in 0..self.subchannels.len() {
            if i != index {
                let endpoint = self.subchannels[i].endpoint.clone();
                self.subchannels[i] = self.spawn(endpoint);
            }
        }
    }

    fn on_event(&mut self, id: u64, event: SubEvent) {
        let Some(index) = self.subchannels.iter().position(|s| s.id == id) else {
            return; // from a subchannel already dropped
        };
        let pick_first = self.policy == LoadBalancing::PickFirst;
        match event {
            SubEvent::Connecting => self.subchannels[index].state = SubState::Connecting,
            SubEvent::Ready(conn) => {
                let sub = &mut self.subchannels[index];
                sub.state = SubState::Ready(conn);
                sub.failing = false;
                if pick_first {
                    match self.selected {
                        None => self.select(index),
                        // Another address won meanwhile: this one closes.
                        Some(selected) if selected != id => {
                            let endpoint = self.subchannels[index].endpoint.clone();
                            self.subchannels[index] = self.spawn(endpoint);
                        }
                        Some(_) => {}
                    }
                }
            }
            SubEvent::Failed(kind, message) => {
                let sub = &mut self.subchannels[index];
                sub.state = SubState::Failed;
                sub.failing = true;
                self.failure = Some(Failure { kind, message });
                if pick_first {
                    self.advance_pass();
                }
                if self.subchannels.iter().all(|s| s.failing) {
                    self.want_resolution = true;
                }
            }
            SubEvent::Idle => {
                self.subchannels[index].state = SubState::Idle;
                self.want_resolution = true;
                if !pick_first {
                    self.subchannels[index].connect();
                } else if self.selected == Some(id) {
                    self.selected = None;
                    self.idle = true;
                }
            }
        }
    }

    /// Publishes the state and the connections to pick from, if either changed (and tells
    /// channelz of the subchannels, when the channel is recorded there).
    fn publish(&mut self) {
        use ConnectivityState::*;
        if let Some(channelz) = self.channelz.as_ref().and_then(|c| c.upgrade()) {
            channelz.set_subchannels(self.subchannels.iter().map(|s| {
                let address = match &s.endpoint {
                    Endpoint::Net(address) => address.to_string(),
                    Endpoint::Memory(_) => "memory".to_owned(),
                };
                let state = match s.state {
                    SubState::Idle => Idle,
                    SubState::Connecting if s.failing => TransientFailure,
                    SubState::Connecting => Connecting,
                    SubState::Ready(_) => Ready,
                    SubState::Failed => TransientFailure,
                };
                (s.id, address, state)
            }));
        }
        let ready: Vec<Arc<ReadyConn>> = match self.policy {
            LoadBalancing::PickFirst => self
                .subchannels
                .iter()
                .filter(|s| Some(s.id) == self.selected)
                .filter_map(|s| s.ready().cloned())
                .collect(),
            LoadBalancing::RoundRobin => self
                .subchannels
                .iter()
                .filter_map(|s| s.ready().cloned())
                .collect(),
        };
        let mut failure = None;
        let state = if self.idle {
            Idle
        } else if !ready.is_empty() {
            Ready
        } else if self.subchannels.is_empty() {
            failure = self.resolution_failure.clone();
            if failure.is_some() {
                TransientFailure
            } else {
                Connecting
            }
        } else if self.subchannels.iter().all(|s| s.failing) {
            failure = self.failure.clone().map(|mut failure| {
                let n = self.subchannels.len();
                if n > 1 {
                    failure.message = format!(
                        "none of the {n} addresses of {} could be connected to; the last: {}",
                        self.dialer.authority, failure.message
                    );
                }
                failure
            });
            TransientFailure
        } else {
            Connecting
        };
        self.state.send_if_modified(|snapshot| {
            let same = snapshot.state == state
                && snapshot.ready.len() == ready.len()
                && snapshot
                    .ready
                    .iter()
                    .zip(&ready)
                    .all(|(a, b)| Arc::ptr_eq(a, b));
            if same && (state != TransientFailure || snapshot.failure.is_some()) {
                return false;
            }
            *snapshot = Snapshot {
                state,
                ready,
                failure,
            };
            true
        });
    }
}
