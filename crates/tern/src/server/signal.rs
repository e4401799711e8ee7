//! The signals that ask a server to stop: SIGTERM (how Kubernetes, systemd and Docker stop a
//! process) and SIGINT (Ctrl-C), so that a server stopped either way drains its calls instead of
//! dying with them in flight.

use std::fmt;

/// Which signal asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGTERM: an orchestrator (Kubernetes, systemd, Docker) stopping the process.
    Terminate,
    /// SIGINT: Ctrl-C in a terminal.
    Interrupt,
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Interrupt => "SIGINT",
        })
    }
}

/// Completes when the process receives SIGTERM or SIGINT (on Windows, Ctrl-C or Ctrl-Break),
/// saying which. Give it to [`Router::serve_listener`](super::Router::serve_listener) and the
/// like for a graceful shutdown on either; [`Router::serve_with_signals`](super::Router::serve_with_signals)
/// does that in one call.
///
/// The handlers are installed when this is first polled and stay installed, so a second signal
/// does not kill the process either: await `stop_signal()` again to act on it (end at once, say).
/// If a handler cannot be installed the error is logged and that signal is not waited for.
pub async fn stop_signal() -> StopSignal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        let received = match (terminate, interrupt) {
            (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                _ = terminate.recv() => StopSignal::Terminate,
                _ = interrupt.recv() => StopSignal::Interrupt,
            },
            (Ok(mut terminate), Err(e)) => {
                tracing::warn!(error = %e, "cannot listen for SIGINT");
                terminate.recv().await;
                StopSignal::Terminate
            }
            (Err(e), Ok(mut interrupt)) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                interrupt.recv().await;
                StopSignal::Interrupt
            }
            (Err(e), Err(_)) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM or SIGINT");
                std::future::pending().await
            }
        };
        tracing::info!(signal = %received, "stopping: draining calls in flight");
        received
    }
    #[cfg(not(unix))]
    {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("stopping: draining calls in flight");
        StopSignal::Interrupt
    }
}
