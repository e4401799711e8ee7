//! Failures outside any one call: an address that does not parse, a port that cannot be bound, a
//! peer that cannot be reached, fails the TLS handshake or does not speak HTTP/2. Each says which
//! step failed and where.
//! What a peer says about a call is a [`Status`](crate::Status), not an `Error`.

use std::fmt;

/// The step that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The address or URI is not valid.
    InvalidAddress,
    /// The server could not listen on its address.
    Bind,
    /// Name resolution or the TCP connection failed.
    Connect,
    /// The HTTP/2 handshake failed.
    Handshake,
    /// A certificate or key could not be loaded, or the TLS handshake failed.
    Tls,
    /// Reading or writing the socket failed.
    Io,
    /// A configuration (a service config, say) is not valid.
    InvalidConfig,
}

/// A transport-level failure.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error {
            kind,
            context: context.into(),
            source: Some(source.into()),
        }
    }

    pub(crate) fn msg(kind: ErrorKind, context: impl Into<String>) -> Error {
        Error {
            kind,
            context: context.into(),
            source: None,
        }
    }

    /// Which step failed.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.context)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}
