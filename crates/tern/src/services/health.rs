//! Health checking, `grpc.health.v1.Health`: what `grpc_health_probe`, Kubernetes gRPC probes and
//! load balancers ask. A [`HealthReporter`] sets each service's status; the server answers
//! `Check`, `List` and the streaming `Watch` from it, and turns everything NOT_SERVING when it
//! starts shutting down.
//!
//! ```no_run
//! # async fn f<S: tern::server::Service>(service: S) -> Result<(), tern::Error> {
//! use tern::services::health::HealthReporter;
//!
//! let health = HealthReporter::new();
//! health.set_serving("hello.Hello");
//! tern::Server::builder()
//!     .add_service(service)
//!     .with_health(health.clone())
//!     .serve("0.0.0.0:5000".parse().unwrap())
//!     .await
//! # }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use futures_core::Stream;
use tokio::sync::watch;

use crate::server::ShutdownSignal;
use crate::{Request, Response, Status};

/// The generated messages and service of `grpc.health.v1`.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#[rustfmt::skip]
pub mod proto {
    include!("generated/grpc.health.v1.rs");

    /// The encoded descriptors of `grpc/health/v1/health.proto`, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("generated/health.bin");
}

use proto::health_check_response::ServingStatus;
use proto::health_server::{Health, HealthServer};
use proto::{HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse};

/// Sets the health of the server (`""`) and of each service; cheap to clone, every clone shares
/// the statuses.
#[derive(Clone, Default)]
pub struct HealthReporter {
    statuses: Arc<Mutex<HashMap<String, watch::Sender<Option<ServingStatus>>>>>,
}

impl fmt::Debug for HealthReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let statuses = self.lock();
        f.debug_map()
            .entries(statuses.iter().map(|(k, v)| (k, *v.borrow())))
            .finish()
    }
}

impl HealthReporter {
    /// A reporter in which the server as a whole (`""`) is SERVING and no service is known yet.
    pub fn new() -> HealthReporter {
        let reporter = HealthReporter::default();
        reporter.set_serving("");
        reporter
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Option<ServingStatus>>>> {
        self.statuses.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, service: &str, status: Option<ServingStatus>) {
        let mut statuses = self.lock();
        match statuses.get(service) {
            Some(sender) => {
                sender.send_replace(status);
            }
            None => {
                statuses.insert(service.to_owned(), watch::channel(status).0);
            }
        }
    }

    /// Marks a service (its full name, e.g. `hello.Hello`; `""` for the whole server) SERVING.
    pub fn set_serving(&self, service: &str) {
        self.set(service, Some(ServingStatus::Serving));
    }

    /// Marks a service NOT_SERVING.
    pub fn set_not_serving(&self, service: &str) {
        self.set(service, Some(ServingStatus::NotServing));
    }

    /// Forgets a service: Check answers NOT_FOUND and Watch SERVICE_UNKNOWN.
    pub fn remove(&self, service: &str) {
        self.set(service, None);
    }

    /// Marks every service, and the server, NOT_SERVING: the server does this when it starts
    /// shutting down, so that probes and load balancers stop sending it calls.
    pub fn set_all_not_serving(&self) {
        for sender in self.lock().values() {
            sender.send_modify(|status| {
                if status.is_some() {
                    *status = Some(ServingStatus::NotServing);
                }
            });
        }
    }

    /// The status of a service, if it is known.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.lock().get(service).and_then(|s| *s.borrow())
    }

    fn subscribe(&self, service: &str) -> watch::Receiver<Option<ServingStatus>> {
        let mut statuses = self.lock();
        statuses
            .entry(service.to_owned())
            .or_insert_with(|| watch::channel(None).0)
            .subscribe()
    }

    /// The `grpc.health.v1.Health` service answering from this reporter.
    pub fn service(&self) -> HealthServer<HealthService> {
        HealthServer::new(HealthService {
            reporter: self.clone(),
        })
    }
}

/// Answers `grpc.health.v1.Health` from a [`HealthReporter`].
#[derive(Debug)]
pub struct HealthService {
    reporter: HealthReporter,
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

/// The Watch stream: the current status, then every change, until the caller goes away.
struct Watching {
    receiver: watch::Receiver<Option<ServingStatus>>,
    /// Fires when the connection drains; the watch then ends, so that a watcher does not hold a
    /// stopping server for its whole grace period.
    shutdown: Option<ShutdownSignal>,
    /// The first item is the status as it is now, changed or not.
    first: bool,
    /// Set once the watch has nothing more to send.
    ended: bool,
    pending: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Wake> + Send>>>,
}

/// Why a watch woke up.
enum Wake {
    Changed,
    /// The reporter is gone.
    Closed,
    Draining,
}

impl Stream for Watching {
    type Item = Result<HealthCheckResponse, Status>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return std::task::Poll::Ready(None);
        }
        if this.first {
            this.first = false;
            let status = this
                .receiver
                .borrow_and_update()
                .unwrap_or(ServingStatus::ServiceUnknown);
            return std::task::Poll::Ready(Some(Ok(response(status))));
        }
        let pending = this.pending.get_or_insert_with(|| {
            let mut receiver = this.receiver.clone();
            let shutdown = this.shutdown.clone();
            Box::pin(async move {
                let draining = async {
                    match &shutdown {
                        Some(shutdown) => shutdown.draining().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    changed = receiver.changed() => match changed {
                        Ok(()) => Wake::Changed,
                        Err(_) => Wake::Closed,
                    },
                    () = draining => Wake::Draining,
                }
            })
        });
        let wake = std::task::ready!(pending.as_mut().poll(cx));
        this.pending = None;
        match wake {
            Wake::Closed => {
                this.ended = true;
                std::task::Poll::Ready(None)
            }
            Wake::Changed => {
                let status = this
                    .receiver
                    .borrow_and_update()
                    .unwrap_or(ServingStatus::ServiceUnknown);
                std::task::Poll::Ready(Some(Ok(response(status))))
            }
            Wake::Draining => {
                // The server marks everything NOT_SERVING before it drains: send that last
                // change, if the watcher has not seen it, and end the watch OK.
                this.ended = true;
                if this.receiver.has_changed().unwrap_or(false) {
                    let status = this
                        .receiver
                        .borrow_and_update()
                        .unwrap_or(ServingStatus::ServiceUnknown);
                    std::task::Poll::Ready(Some(Ok(response(status))))
                } else {
                    std::task::Poll::Ready(None)
                }
            }
        }
    }
}

impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        match self.reporter.status(&service) {
            Some(status) => Ok(Response::new(response(status))),
            None => Err(Status::not_found(format!("unknown service {service:?}"))),
        }
    }

    async fn list(
        &self,
        _request: Request<HealthListRequest>,
    ) -> Result<Response<HealthListResponse>, Status> {
        let statuses = self
            .reporter
            .lock()
            .iter()
            .filter_map(|(name, sender)| Some((name.clone(), response((*sender.borrow())?))))
            .collect();
        Ok(Response::new(HealthListResponse { statuses }))
    }

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<impl Stream<Item = Result<HealthCheckResponse, Status>> + Send>, Status>
    {
        let shutdown = request.shutdown_signal().cloned();
        let service = request.into_inner().service;
        Ok(Response::new(Watching {
            receiver: self.reporter.subscribe(&service),
            shutdown,
            first: true,
            ended: false,
            pending: None,
        }))
    }
}
