//! Rich errors: the standard `google.rpc` error details (ErrorInfo, BadRequest, RetryInfo,
//! QuotaFailure, PreconditionFailure, ResourceInfo, Help, LocalizedMessage, DebugInfo,
//! RequestInfo) sent with a [`Status`] and read from one.
//!
//! On the wire they are a `google.rpc.Status` — the code, the message and the details packed in
//! `google.protobuf.Any` — encoded in the `grpc-status-details-bin` trailer, as grpc-go's
//! `status.WithDetails`, grpc-java's `StatusProto` and Python's `grpcio-status` write and read
//! it, so the details cross languages both ways.
//!
//! ```
//! use std::time::Duration;
//! use tern::error_details::{BadRequest, ErrorDetails};
//! use tern::{Code, Status};
//!
//! // A server refusing a request, saying which fields are wrong and when to come back.
//! let status = Status::with_error_details(
//!     Code::InvalidArgument,
//!     "the request has 2 invalid fields",
//!     ErrorDetails::new()
//!         .field_violation("name", "must not be empty")
//!         .field_violation("age", "must be at most 150")
//!         .retry_delay(Duration::from_secs(5)),
//! );
//!
//! // The client reading them.
//! let details = status.error_details().unwrap();
//! let bad_request: &BadRequest = details.get().unwrap();
//! assert_eq!(bad_request.field_violations[1].field, "age");
//! assert_eq!(details.retry_after(), Some(Duration::from_secs(5)));
//! ```

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use prost_types::Any;

use crate::status::{Code, Status};

/// The generated messages of `google.rpc` (`google/rpc/status.proto` and
/// `google/rpc/error_details.proto`, which ship with Tern).
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
#[rustfmt::skip]
pub mod proto {
    include!("services/generated/google.rpc.rs");

    /// The encoded descriptors of `google/rpc/status.proto` and `error_details.proto`.
    pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!("services/generated/rpc.bin");
}

pub use proto::{
    bad_request, help, precondition_failure, quota_failure, BadRequest, DebugInfo, ErrorInfo, Help,
    LocalizedMessage, PreconditionFailure, QuotaFailure, RequestInfo, ResourceInfo, RetryInfo,
};

/// One of the standard detail messages: it knows its `Any` type URL. (Details of other types
/// travel as [`Detail::Other`].)
pub trait ErrorDetail: Message + Default + Sized + sealed::Sealed {
    /// `type.googleapis.com/` and the message's full name.
    const TYPE_URL: &'static str;
}

/// What the standard details implement so that [`ErrorDetails`] can find them; not for other
/// types.
#[allow(unreachable_pub)]
mod sealed {
    use super::Detail;

    pub trait Sealed {
        /// The first detail of this type.
        fn find(details: &[Detail]) -> Option<&Self>;
        /// The first detail of this type, added empty if there is none.
        fn slot(details: &mut Vec<Detail>) -> &mut Self;
    }
}

macro_rules! details {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// One error detail: a standard one, decoded, or any other message, kept as it came.
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub enum Detail {
            $($(#[$doc])* $name($name),)*
            /// A detail of another type (the application's own, say), still packed.
            Other(Any),
        }

        $(
            impl ErrorDetail for $name {
                const TYPE_URL: &'static str =
                    concat!("type.googleapis.com/google.rpc.", stringify!($name));
            }

            impl sealed::Sealed for $name {
                fn find(details: &[Detail]) -> Option<&$name> {
                    details.iter().find_map(|detail| match detail {
                        Detail::$name(found) => Some(found),
                        _ => None,
                    })
                }

                fn slot(details: &mut Vec<Detail>) -> &mut $name {
                    let index = match details.iter().position(|d| matches!(d, Detail::$name(_))) {
                        Some(index) => index,
                        None => {
                            details.push(Detail::$name($name::default()));
                            details.len() - 1
                        }
                    };
                    match &mut details[index] {
                        Detail::$name(found) => found,
                        _ => unreachable!(concat!("a ", stringify!($name), " was found here")),
                    }
                }
            }

            impl From<$name> for Detail {
                fn from(detail: $name) -> Detail {
                    Detail::$name(detail)
                }
            }
        )*

        impl Detail {
            /// Packs the detail in an `Any`.
            pub fn to_any(&self) -> Any {
                match self {
                    $(Detail::$name(detail) => Any {
                        type_url: $name::TYPE_URL.to_owned(),
                        value: detail.encode_to_vec(),
                    },)*
                    Detail::Other(any) => any.clone(),
                }
            }

            /// Unpacks an `Any`: a standard detail is decoded, any other type kept as it is.
            pub fn from_any(any: Any) -> Result<Detail, DetailsError> {
                $(
                    if any.type_url == $name::TYPE_URL {
                        return $name::decode(any.value.as_slice())
                            .map(Detail::$name)
                            .map_err(|e| DetailsError::Detail {
                                type_url: any.type_url.clone(),
                                reason: e.to_string(),
                            });
                    }
                )*
                Ok(Detail::Other(any))
            }
        }
    };
}

details! {
    /// Why the call failed, for programs: a reason, its domain and context.
    ErrorInfo,
    /// When the client may retry.
    RetryInfo,
    /// The server's stack trace and debugging notes.
    DebugInfo,
    /// Which quotas ran out.
    QuotaFailure,
    /// Which preconditions were not met.
    PreconditionFailure,
    /// Which request fields are invalid.
    BadRequest,
    /// Which request this was.
    RequestInfo,
    /// Which resource the call was about.
    ResourceInfo,
    /// Links to documentation.
    Help,
    /// The message translated for the end user.
    LocalizedMessage,
}

/// The details of an error, in order. Build them with the helpers (each standard detail has one)
/// or [`ErrorDetails::push`]; send them with [`Status::with_error_details`]; read them with
/// [`Status::error_details`] and [`ErrorDetails::get`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorDetails {
    details: Vec<Detail>,
}

impl ErrorDetails {
    /// No details yet.
    pub fn new() -> ErrorDetails {
        ErrorDetails::default()
    }

    /// Adds a detail.
    pub fn push(&mut self, detail: impl Into<Detail>) {
        self.details.push(detail.into());
    }

    /// Adds a detail, builder style.
    pub fn with(mut self, detail: impl Into<Detail>) -> ErrorDetails {
        self.push(detail);
        self
    }

    /// The details in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Detail> {
        self.details.iter()
    }

    /// How many details there are.
    pub fn len(&self) -> usize {
        self.details.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.details.is_empty()
    }

    /// The first detail of type `T`: `details.get::<BadRequest>()`.
    pub fn get<T: ErrorDetail>(&self) -> Option<&T> {
        T::find(&self.details)
    }

    /// The first detail of type `T`, added empty if there is none, so that field violations,
    /// say, gather in one `BadRequest` as gRPC's convention has it.
    pub fn get_or_insert<T: ErrorDetail>(&mut self) -> &mut T {
        T::slot(&mut self.details)
    }

    /// An [`ErrorInfo`]: a reason (UPPER_SNAKE_CASE), its domain (the service's DNS name) and
    /// context.
    pub fn error_info<K, V>(
        self,
        reason: impl Into<String>,
        domain: impl Into<String>,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> ErrorDetails
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.with(ErrorInfo {
            reason: reason.into(),
            domain: domain.into(),
            metadata: metadata
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        })
    }

    /// A [`RetryInfo`]: retry after `delay`.
    pub fn retry_delay(mut self, delay: Duration) -> ErrorDetails {
        // Durations past prost's range (about 292 billion years) are clamped.
        let delay = prost_types::Duration::try_from(delay).unwrap_or(prost_types::Duration {
            seconds: i64::MAX,
            nanos: 999_999_999,
        });
        self.get_or_insert::<RetryInfo>().retry_delay = Some(delay);
        self
    }

    /// A [`DebugInfo`]: a stack trace and a note.
    pub fn debug_info<S: Into<String>>(
        self,
        stack_entries: impl IntoIterator<Item = S>,
        detail: impl Into<String>,
    ) -> ErrorDetails {
        self.with(DebugInfo {
            stack_entries: stack_entries.into_iter().map(Into::into).collect(),
            detail: detail.into(),
        })
    }

    /// A quota violation, added to the details' [`QuotaFailure`].
    pub fn quota_violation(
        mut self,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> ErrorDetails {
        self.get_or_insert::<QuotaFailure>()
            .violations
            .push(quota_failure::Violation {
                subject: subject.into(),
                description: description.into(),
                ..Default::default()
            });
        self
    }

    /// A precondition violation, added to the details' [`PreconditionFailure`].
    pub fn precondition_violation(
        mut self,
        kind: impl Into<String>,
        subject: impl Into<String>,
        description: impl Into<String>,
    ) -> ErrorDetails {
        self.get_or_insert::<PreconditionFailure>().violations.push(
            precondition_failure::Violation {
                r#type: kind.into(),
                subject: subject.into(),
                description: description.into(),
            },
        );
        self
    }

    /// An invalid request field, added to the details' [`BadRequest`].
    pub fn field_violation(
        mut self,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> ErrorDetails {
        self.get_or_insert::<BadRequest>()
            .field_violations
            .push(bad_request::FieldViolation {
                field: field.into(),
                description: description.into(),
                ..Default::default()
            });
        self
    }

    /// A [`RequestInfo`]: the request's id and data to find it by.
    pub fn request_info(
        self,
        request_id: impl Into<String>,
        serving_data: impl Into<String>,
    ) -> ErrorDetails {
        self.with(RequestInfo {
            request_id: request_id.into(),
            serving_data: serving_data.into(),
        })
    }

    /// A [`ResourceInfo`]: the kind and name of the resource, its owner and what went wrong.
    pub fn resource_info(
        self,
        resource_type: impl Into<String>,
        resource_name: impl Into<String>,
        owner: impl Into<String>,
        description: impl Into<String>,
    ) -> ErrorDetails {
        self.with(ResourceInfo {
            resource_type: resource_type.into(),
            resource_name: resource_name.into(),
            owner: owner.into(),
            description: description.into(),
        })
    }

    /// A link, added to the details' [`Help`].
    pub fn help_link(
        mut self,
        description: impl Into<String>,
        url: impl Into<String>,
    ) -> ErrorDetails {
        self.get_or_insert::<Help>().links.push(help::Link {
            description: description.into(),
            url: url.into(),
        });
        self
    }

    /// A [`LocalizedMessage`]: the message in the user's locale (BCP 47, `fr-CH`).
    pub fn localized_message(
        self,
        locale: impl Into<String>,
        message: impl Into<String>,
    ) -> ErrorDetails {
        self.with(LocalizedMessage {
            locale: locale.into(),
            message: message.into(),
        })
    }

    /// How long the [`RetryInfo`] says to wait before retrying, if there is one (a negative
    /// delay reads as none).
    pub fn retry_after(&self) -> Option<Duration> {
        let delay = self.get::<RetryInfo>()?.retry_delay?;
        Duration::try_from(delay).ok()
    }
}

impl<'a> IntoIterator for &'a ErrorDetails {
    type Item = &'a Detail;
    type IntoIter = std::slice::Iter<'a, Detail>;

    fn into_iter(self) -> Self::IntoIter {
        self.details.iter()
    }
}

impl FromIterator<Detail> for ErrorDetails {
    fn from_iter<I: IntoIterator<Item = Detail>>(iter: I) -> ErrorDetails {
        ErrorDetails {
            details: iter.into_iter().collect(),
        }
    }
}

/// Why a status's details could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DetailsError {
    /// `grpc-status-details-bin` is not an encoded `google.rpc.Status`.
    NotAStatus {
        /// What the decoder said.
        reason: String,
    },
    /// The details' `google.rpc.Status` has another code than the call's `grpc-status`, so it
    /// does not describe this error (grpcio-status refuses these too).
    CodeMismatch {
        /// The call's code.
        status: Code,
        /// The code inside the details.
        details: i32,
    },
    /// A standard detail whose bytes do not decode as its type.
    Detail {
        /// The detail's type URL.
        type_url: String,
        /// What the decoder said.
        reason: String,
    },
}

impl fmt::Display for DetailsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DetailsError::NotAStatus { reason } => write!(
                f,
                "grpc-status-details-bin is not a google.rpc.Status: {reason}"
            ),
            DetailsError::CodeMismatch { status, details } => write!(
                f,
                "the error details are for code {details}, not the call's {status:?}"
            ),
            DetailsError::Detail { type_url, reason } => {
                write!(f, "error detail {type_url} does not decode: {reason}")
            }
        }
    }
}

impl std::error::Error for DetailsError {}

impl Status {
    /// A status carrying error details: `grpc-status-details-bin` gets a `google.rpc.Status`
    /// with this code, message and details.
    pub fn with_error_details(
        code: Code,
        message: impl Into<String>,
        details: ErrorDetails,
    ) -> Status {
        let message = message.into();
        let status = proto::Status {
            code: code as i32,
            message: message.clone(),
            details: details.iter().map(Detail::to_any).collect(),
        };
        Status::with_details(code, message, Bytes::from(status.encode_to_vec()))
    }

    /// The error details this status carries; empty when it has none.
    pub fn error_details(&self) -> Result<ErrorDetails, DetailsError> {
        let Some(status) = self.rpc_status()? else {
            return Ok(ErrorDetails::new());
        };
        status.details.into_iter().map(Detail::from_any).collect()
    }

    /// The whole `google.rpc.Status` this status carries, if it has one.
    pub fn rpc_status(&self) -> Result<Option<proto::Status>, DetailsError> {
        if self.details().is_empty() {
            return Ok(None);
        }
        let status = proto::Status::decode(self.details().as_ref()).map_err(|e| {
            DetailsError::NotAStatus {
                reason: e.to_string(),
            }
        })?;
        if status.code != self.code() as i32 {
            return Err(DetailsError::CodeMismatch {
                status: self.code(),
                details: status.code,
            });
        }
        Ok(Some(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_detail() -> ErrorDetails {
        ErrorDetails::new()
            .error_info("API_DISABLED", "hello.example.com", [("service", "hello")])
            .retry_delay(Duration::from_millis(1500))
            .debug_info(["main.rs:1", "lib.rs:2"], "stack")
            .quota_violation("project:p", "daily limit")
            .precondition_violation("TOS", "example.com", "terms not accepted")
            .field_violation("name", "must not be empty")
            .field_violation("age", "must be at most 150")
            .request_info("req-1", "shard 7")
            .resource_info("user", "ada", "admin", "not found")
            .help_link("docs", "https://example.com/docs")
            .help_link("console", "https://example.com/console")
            .localized_message("fr-CH", "nom manquant")
    }

    #[test]
    fn every_standard_detail_round_trips_through_the_trailer_bytes() {
        let status = Status::with_error_details(Code::InvalidArgument, "bad", every_detail());
        let read = status.error_details().unwrap();
        assert_eq!(read, every_detail());
        // Repeated helpers gather into one detail, as gRPC's convention has it.
        assert_eq!(read.len(), 10);
        let bad_request = read.get::<BadRequest>().unwrap();
        assert_eq!(bad_request.field_violations.len(), 2);
        assert_eq!(
            bad_request.field_violations[1].description,
            "must be at most 150"
        );
        assert_eq!(read.get::<Help>().unwrap().links.len(), 2);
        assert_eq!(read.retry_after(), Some(Duration::from_millis(1500)));
        let info = read.get::<ErrorInfo>().unwrap();
        assert_eq!(
            info.metadata.get("service").map(String::as_str),
            Some("hello")
        );
        let whole = status.rpc_status().unwrap().unwrap();
        assert_eq!(whole.message, "bad");
        assert_eq!(whole.code, Code::InvalidArgument as i32);
        assert_eq!(
            whole.details[0].type_url,
            "type.googleapis.com/google.rpc.ErrorInfo"
        );
    }

    #[test]
    fn a_detail_of_another_type_is_kept_packed() {
        let own = Any {
            type_url: "type.googleapis.com/acme.Reason".into(),
            value: vec![1, 2, 3],
        };
        let status = Status::with_error_details(
            Code::Aborted,
            "conflict",
            ErrorDetails::new().with(Detail::Other(own.clone())),
        );
        let read = status.error_details().unwrap();
        assert_eq!(read.iter().collect::<Vec<_>>(), vec![&Detail::Other(own)]);
        assert!(read.get::<ErrorInfo>().is_none());
    }

    #[test]
    fn no_details_read_as_empty() {
        let status = Status::not_found("gone");
        assert!(status.error_details().unwrap().is_empty());
        assert_eq!(status.rpc_status().unwrap(), None);
    }

    #[test]
    fn bytes_that_are_not_a_status_are_an_error() {
        let status = Status::with_details(Code::Internal, "x", Bytes::from_static(&[0xff, 0xff]));
        assert!(matches!(
            status.error_details(),
            Err(DetailsError::NotAStatus { .. })
        ));
    }

    #[test]
    fn details_for_another_code_are_refused() {
        let other = Status::with_error_details(Code::NotFound, "x", every_detail());
        let status = Status::with_details(Code::Internal, "x", other.details().clone());
        assert_eq!(
            status.error_details(),
            Err(DetailsError::CodeMismatch {
                status: Code::Internal,
                details: Code::NotFound as i32,
            })
        );
    }

    #[test]
    fn a_standard_detail_that_does_not_decode_is_an_error() {
        let broken = proto::Status {
            code: Code::Internal as i32,
            message: "x".into(),
            details: vec![Any {
                type_url: BadRequest::TYPE_URL.into(),
                value: vec![0x0a, 0x05, 0x01],
            }],
        };
        let status = Status::with_details(Code::Internal, "x", broken.encode_to_vec().into());
        let error = status.error_details().unwrap_err();
        assert!(
            matches!(&error, DetailsError::Detail { type_url, .. } if type_url == BadRequest::TYPE_URL),
            "{error}"
        );
    }

    #[test]
    fn a_negative_retry_delay_reads_as_none() {
        let details = ErrorDetails::new().with(RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: -1,
                nanos: 0,
            }),
        });
        assert_eq!(details.retry_after(), None);
    }
}
