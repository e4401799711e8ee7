//! The outcome of a call: a gRPC status code, a message for people, optional binary details
//! (`google.rpc.Status`, carried in `grpc-status-details-bin`) and trailing metadata.

use std::fmt;

use bytes::Bytes;

use crate::metadata::Metadata;

/// A gRPC status code, as defined by the gRPC specification (`doc/statuscodes.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Code {
    /// Not an error; returned on success.
    Ok = 0,
    /// The operation was cancelled, typically by the caller.
    Cancelled = 1,
    /// Unknown error, e.g. a handler that panicked or a status from an unknown error space.
    Unknown = 2,
    /// The client specified an invalid argument.
    InvalidArgument = 3,
    /// The deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// Some requested entity was not found.
    NotFound = 5,
    /// The entity that a client attempted to create already exists.
    AlreadyExists = 6,
    /// The caller does not have permission to execute the operation.
    PermissionDenied = 7,
    /// Some resource has been exhausted, e.g. a message over the size limit.
    ResourceExhausted = 8,
    /// The system is not in a state required for the operation's execution.
    FailedPrecondition = 9,
    /// The operation was aborted, typically due to a concurrency issue.
    Aborted = 10,
    /// The operation was attempted past the valid range.
    OutOfRange = 11,
    /// The operation is not implemented or not supported (unknown service or method).
    Unimplemented = 12,
    /// Internal error: an invariant expected by the system was broken (e.g. a malformed message).
    Internal = 13,
    /// The service is currently unavailable; retrying may help.
    Unavailable = 14,
    /// Unrecoverable data loss or corruption.
    DataLoss = 15,
    /// The request does not have valid authentication credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Every code, in numeric order.
    pub const ALL: [Code; 17] = [
        Code::Ok,
        Code::Cancelled,
        Code::Unknown,
        Code::InvalidArgument,
        Code::DeadlineExceeded,
        Code::NotFound,
        Code::AlreadyExists,
        Code::PermissionDenied,
        Code::ResourceExhausted,
        Code::FailedPrecondition,
        Code::Aborted,
        Code::OutOfRange,
        Code::Unimplemented,
        Code::Internal,
        Code::Unavailable,
        Code::DataLoss,
        Code::Unauthenticated,
    ];

    /// The code for a numeric value; values outside 0..=16 are `Unknown`, as the spec requires.
    pub fn from_i32(value: i32) -> Code {
        usize::try_from(value)
            .ok()
            .and_then(|i| Code::ALL.get(i).copied())
            .unwrap_or(Code::Unknown)
    }

    /// The numeric value sent in `grpc-status`.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The canonical name, e.g. `NOT_FOUND`.
    pub fn name(self) -> &'static str {
        match self {
            Code::Ok => "OK",
            Code::Cancelled => "CANCELLED",
            Code::Unknown => "UNKNOWN",
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::FailedPrecondition => "FAILED_PRECONDITION",
            Code::Aborted => "ABORTED",
            Code::OutOfRange => "OUT_OF_RANGE",
            Code::Unimplemented => "UNIMPLEMENTED",
            Code::Internal => "INTERNAL",
            Code::Unavailable => "UNAVAILABLE",
            Code::DataLoss => "DATA_LOSS",
            Code::Unauthenticated => "UNAUTHENTICATED",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A gRPC status: what the peer (or the runtime, on its behalf) said about a call that ended.
///
/// ```
/// use tern::{Code, Status};
/// let status = Status::not_found("no such user: ada");
/// assert_eq!(status.code(), Code::NotFound);
/// assert_eq!(status.message(), "no such user: ada");
/// ```
#[derive(Clone)]
pub struct Status {
    // Boxed so that `Result<T, Status>` stays small on the hot path.
    inner: Box<StatusInner>,
}

#[derive(Clone)]
struct StatusInner {
    code: Code,
    message: String,
    details: Bytes,
    metadata: Metadata,
}

macro_rules! constructors {
    ($($(#[$doc:meta])* $name:ident => $code:ident,)*) => {
        $(
            $(#[$doc])*
            pub fn $name(message: impl Into<String>) -> Status {
                Status::new(Code::$code, message)
            }
        )*
    };
}

impl Status {
    /// A status with this code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            inner: Box::new(StatusInner {
                code,
                message: message.into(),
                details: Bytes::new(),
                metadata: Metadata::new(),
            }),
        }
    }

    /// A status with binary details: by convention an encoded `google.rpc.Status`.
    pub fn with_details(code: Code, message: impl Into<String>, details: Bytes) -> Status {
        let mut status = Status::new(code, message);
        status.inner.details = details;
        status
    }

    constructors! {
        /// `CANCELLED`.
        cancelled => Cancelled,
        /// `UNKNOWN`.
        unknown => Unknown,
        /// `INVALID_ARGUMENT`.
        invalid_argument => InvalidArgument,
        /// `DEADLINE_EXCEEDED`.
        deadline_exceeded => DeadlineExceeded,
        /// `NOT_FOUND`.
        not_found => NotFound,
        /// `ALREADY_EXISTS`.
        already_exists => AlreadyExists,
        /// `PERMISSION_DENIED`.
        permission_denied => PermissionDenied,
        /// `RESOURCE_EXHAUSTED`.
        resource_exhausted => ResourceExhausted,
        /// `FAILED_PRECONDITION`.
        failed_precondition => FailedPrecondition,
        /// `ABORTED`.
        aborted => Aborted,
        /// `OUT_OF_RANGE`.
        out_of_range => OutOfRange,
        /// `UNIMPLEMENTED`.
        unimplemented => Unimplemented,
        /// `INTERNAL`.
        internal => Internal,
        /// `UNAVAILABLE`.
        unavailable => Unavailable,
        /// `DATA_LOSS`.
        data_loss => DataLoss,
        /// `UNAUTHENTICATED`.
        unauthenticated => Unauthenticated,
    }

    /// The status code.
    pub fn code(&self) -> Code {
        self.inner.code
    }

    /// The message for people (already percent-decoded).
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// The binary details (`grpc-status-details-bin`); empty when there are none.
    pub fn details(&self) -> &Bytes {
        &self.inner.details
    }

    /// Trailing metadata sent or received with this status.
    pub fn metadata(&self) -> &Metadata {
        &self.inner.metadata
    }

    /// Trailing metadata to send with this status, for changing.
    pub fn metadata_mut(&mut self) -> &mut Metadata {
        &mut self.inner.metadata
    }

    pub(crate) fn into_metadata(self) -> Metadata {
        self.inner.metadata
    }

    pub(crate) fn set_metadata(&mut self, metadata: Metadata) {
        self.inner.metadata = metadata;
    }
}

impl fmt::Debug for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Status");
        d.field("code", &self.inner.code);
        d.field("message", &self.inner.message);
        if !self.inner.details.is_empty() {
            d.field("details", &self.inner.details);
        }
        if !self.inner.metadata.is_empty() {
            d.field("metadata", &self.inner.metadata);
        }
        d.finish()
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.message.is_empty() {
            write!(f, "{}", self.inner.code)
        } else {
            write!(f, "{}: {}", self.inner.code, self.inner.message)
        }
    }
}

impl std::error::Error for Status {}

/// Metadata that cannot be sent (a reserved or malformed key, a value with a newline) is a bug
/// on the sending side: `INTERNAL`, so `?` works on metadata edits in interceptors and handlers.
impl From<crate::metadata::InvalidMetadata> for Status {
    fn from(e: crate::metadata::InvalidMetadata) -> Status {
        Status::internal(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_numbers() {
        for (i, code) in Code::ALL.iter().enumerate() {
            assert_eq!(code.as_i32(), i as i32);
            assert_eq!(Code::from_i32(i as i32), *code);
        }
        assert_eq!(Code::from_i32(17), Code::Unknown);
        assert_eq!(Code::from_i32(-1), Code::Unknown);
    }

    #[test]
    fn display_names_code_and_message() {
        assert_eq!(Status::not_found("x").to_string(), "NOT_FOUND: x");
        assert_eq!(Status::new(Code::Ok, "").to_string(), "OK");
    }
}
