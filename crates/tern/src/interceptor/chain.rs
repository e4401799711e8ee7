//! The machinery behind interceptors: object-safe forms of the two traits, the ordered lists a
//! server, a service or a channel keeps, and the observers of one call, shared by the code that
//! reads its requests and the code that sends its responses.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::{
    CallObserver, ClientInterceptor, IncomingCall, Message, OutgoingCall, ServerInterceptor,
};
use crate::metadata::Metadata;
use crate::status::{Code, Status};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`ServerInterceptor`] with its observer boxed, so different ones fit in one list.
pub(crate) trait DynServerInterceptor: Send + Sync + 'static {
    fn intercept<'a>(
        &'a self,
        call: &'a mut IncomingCall<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn CallObserver>, Status>>;
}

impl<T: ServerInterceptor> DynServerInterceptor for T {
    fn intercept<'a>(
        &'a self,
        call: &'a mut IncomingCall<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn CallObserver>, Status>> {
        Box::pin(async move {
            let observer = ServerInterceptor::intercept(self, call).await?;
            // A `()` observer is zero-sized: boxing it allocates nothing.
            Ok(Box::new(observer) as Box<dyn CallObserver>)
        })
    }
}

/// [`ClientInterceptor`] with its observer boxed.
pub(crate) trait DynClientInterceptor: Send + Sync + 'static {
    fn intercept<'a>(
        &'a self,
        call: &'a mut OutgoingCall<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn CallObserver>, Status>>;
}

impl<T: ClientInterceptor> DynClientInterceptor for T {
    fn intercept<'a>(
        &'a self,
        call: &'a mut OutgoingCall<'_>,
    ) -> BoxFuture<'a, Result<Box<dyn CallObserver>, Status>> {
        Box::pin(async move {
            let observer = ClientInterceptor::intercept(self, call).await?;
            Ok(Box::new(observer) as Box<dyn CallObserver>)
        })
    }
}

/// An ordered list of server interceptors.
#[derive(Clone, Default)]
pub(crate) struct ServerChain(pub(crate) Vec<Arc<dyn DynServerInterceptor>>);

impl ServerChain {
    pub(crate) fn push(&mut self, interceptor: impl ServerInterceptor) {
        self.0.push(Arc::new(interceptor));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for ServerChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} interceptors", self.0.len())
    }
}

/// An ordered list of client interceptors.
#[derive(Clone, Default)]
pub(crate) struct ClientChain(pub(crate) Vec<Arc<dyn DynClientInterceptor>>);

impl ClientChain {
    pub(crate) fn push(&mut self, interceptor: impl ClientInterceptor) {
        self.0.push(Arc::new(interceptor));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Runs every interceptor on the start of a call, in order. On a rejection, the observers
    /// of those that ran before it hear it as the call's end.
    pub(crate) async fn run(&self, call: &mut OutgoingCall<'_>) -> Result<Arc<Observers>, Status> {
        let observers = Arc::new(Observers::new());
        for interceptor in &self.0 {
            match interceptor.intercept(call).await {
                Ok(observer) => observers.push(observer),
                Err(status) => {
                    observers.finish(&status, &mut Metadata::new());
                    return Err(status);
                }
            }
        }
        Ok(observers)
    }
}

impl fmt::Debug for ClientChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} interceptors", self.0.len())
    }
}

/// The observers of one call, in the order their interceptors ran, and the response headers the
/// server's interceptors added. Behind a mutex because a call's request side (a stream the
/// handler may move to another task) and its response side both report to them; it is never
/// contended for long, and calls without interceptors have none.
pub(crate) struct Observers {
    state: Mutex<State>,
}

struct State {
    observers: Vec<Box<dyn CallObserver>>,
    response_headers: Metadata,
    finished: bool,
}

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observers")
    }
}

/// Runs one observer's hook, keeping a panic in it from taking the call down.
fn shielded(what: &str, hook: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(hook)).is_err() {
        tracing::error!(hook = what, "a call observer panicked");
    }
}

impl Observers {
    pub(crate) fn new() -> Observers {
        Observers {
            state: Mutex::new(State {
                observers: Vec::new(),
                response_headers: Metadata::new(),
                finished: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // Hooks run under `shielded`, so a panic never leaves the state half-changed.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn push(&self, observer: Box<dyn CallObserver>) {
        self.state().observers.push(observer);
    }

    pub(crate) fn add_response_headers(&self, headers: Metadata) {
        if !headers.is_empty() {
            self.state().response_headers.extend(headers);
        }
    }

    /// The response headers interceptors asked for, once.
    pub(crate) fn take_response_headers(&self) -> Metadata {
        std::mem::take(&mut self.state().response_headers)
    }

    pub(crate) fn request(&self, value: &(dyn Any + Send), wire_size: usize) {
        let message = Message::new(value, wire_size);
        for observer in &mut self.state().observers {
            shielded("on_request", || observer.on_request(&message));
        }
    }

    pub(crate) fn response(&self, value: &(dyn Any + Send), wire_size: usize) {
        let message = Message::new(value, wire_size);
        for observer in &mut self.state().observers {
            shielded("on_response", || observer.on_response(&message));
        }
    }

    pub(crate) fn response_headers(&self, headers: &Metadata) {
        for observer in &mut self.state().observers {
            shielded("on_response_headers", || {
                observer.on_response_headers(headers)
            });
        }
    }

    /// Tells every observer how the call ended, last interceptor first; only the first call
    /// counts.
    pub(crate) fn finish(&self, status: &Status, trailers: &mut Metadata) {
        let mut state = self.state();
        if std::mem::replace(&mut state.finished, true) {
            return;
        }
        for observer in state.observers.iter_mut().rev() {
            shielded("on_finish", || observer.on_finish(status, trailers));
        }
    }

    /// The end of a call that sent no status: the client cancelled it or the connection went.
    pub(crate) fn finish_cancelled(&self) {
        self.finish(&Status::cancelled("call cancelled"), &mut Metadata::new());
    }
}

impl Drop for Observers {
    fn drop(&mut self) {
        // A call dropped before it reached a status (its task was cancelled) still ends.
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        if !state.finished && !state.observers.is_empty() {
            state.finished = true;
            let status = Status::new(Code::Cancelled, "call ended without a status");
            let mut trailers = Metadata::new();
            for observer in state.observers.iter_mut().rev() {
                shielded("on_finish", || observer.on_finish(&status, &mut trailers));
            }
        }
    }
}
