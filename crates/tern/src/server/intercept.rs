//! Running server interceptors on an incoming call before it reaches its handler: a server's
//! chain for every call, and a service's own through [`Intercepted`].

use std::fmt;
use std::sync::Arc;

use super::call::{guarded, ServerCall};
use super::Service;
use crate::interceptor::chain::{Observers, ServerChain};
use crate::interceptor::{IncomingCall, ServerInterceptor};
use crate::metadata::Metadata;
use crate::status::Status;

/// Runs `chain` on `call` in order, under the call's deadline and cancellation. On `Err`, the
/// call must be rejected with that status (`ServerCall::reject` tells the observers of the
/// interceptors that had accepted it).
pub(crate) async fn run(
    chain: &ServerChain,
    service: &str,
    method: &str,
    registered: bool,
    call: &mut ServerCall,
) -> Result<(), Status> {
    let observers = call
        .observers
        .get_or_insert_with(|| Arc::new(Observers::new()))
        .clone();
    let mut metadata = Metadata::from_headers(std::mem::take(&mut call.metadata));
    let mut response_headers = Metadata::new();
    let deadline = call.deadline;
    let ServerCall {
        deadline: call_deadline,
        peer,
        extensions,
        respond,
        span,
        ..
    } = call;
    let mut head = IncomingCall {
        service,
        method,
        registered,
        metadata: &mut metadata,
        deadline: call_deadline,
        peer,
        extensions,
        response_headers: &mut response_headers,
        span,
    };
    let intercept = async {
        for interceptor in &chain.0 {
            observers.push(interceptor.intercept(&mut head).await?);
        }
        Ok(())
    };
    let outcome = guarded(intercept, deadline, |cx| respond.poll_reset(cx)).await;
    call.metadata = metadata.into_headers();
    observers.add_response_headers(response_headers);
    match outcome {
        Ok(result) => result,
        Err(interrupted) => Err(interrupted
            .into_status()
            .unwrap_or_else(|| Status::cancelled("call cancelled by the client"))),
    }
}

/// Runs the rest of a call in the span an interceptor chose for it, if one did.
pub(crate) async fn in_span<F: std::future::Future>(
    span: Option<tracing::Span>,
    call: F,
) -> F::Output {
    match span {
        Some(span) => {
            use tracing::Instrument as _;
            call.instrument(span).await
        }
        None => call.await,
    }
}

/// A service with interceptors of its own, run after the server's for this service's calls:
/// made by [`Service::intercept`].
pub struct Intercepted<S> {
    service: S,
    chain: ServerChain,
}

impl<S: Service> Intercepted<S> {
    pub(crate) fn new(service: S) -> Intercepted<S> {
        Intercepted {
            service,
            chain: ServerChain::default(),
        }
    }

    /// Adds another interceptor, run after those added before it.
    pub fn intercept(mut self, interceptor: impl ServerInterceptor) -> Intercepted<S> {
        self.chain.push(interceptor);
        self
    }
}

impl<S> fmt::Debug for Intercepted<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Intercepted")
            .field("chain", &self.chain)
            .finish_non_exhaustive()
    }
}

impl<S: Service> Service for Intercepted<S> {
    const NAME: &'static str = S::NAME;
    const METHODS: &'static [&'static str] = S::METHODS;

    async fn call(&self, method: &str, mut call: ServerCall) {
        let registered = S::METHODS.is_empty() || S::METHODS.contains(&method);
        match run(&self.chain, S::NAME, method, registered, &mut call).await {
            Ok(()) => {
                let span = call.span.take();
                in_span(span, self.service.call(method, call)).await
            }
            Err(status) => call.reject(status),
        }
    }
}
