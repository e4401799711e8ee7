//! The headers and trailers gRPC defines on top of HTTP/2: content type, `grpc-status`,
//! `grpc-message`, `grpc-status-details-bin`, and how HTTP statuses and HTTP/2 reset codes map to
//! gRPC codes. Header values the runtime sends on every call are built once, here.

use base64::Engine as _;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::StatusCode;

use crate::metadata::Metadata;
use crate::protocol::{base64 as b64, percent};
use crate::status::{Code, Status};

pub(crate) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
pub(crate) const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
pub(crate) const GRPC_STATUS_DETAILS: HeaderName =
    HeaderName::from_static("grpc-status-details-bin");
pub(crate) const GRPC_TIMEOUT: HeaderName = HeaderName::from_static("grpc-timeout");
pub(crate) const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");
pub(crate) const GRPC_ACCEPT_ENCODING: HeaderName = HeaderName::from_static("grpc-accept-encoding");
pub(crate) const TE: HeaderName = HeaderName::from_static("te");

pub(crate) const CONTENT_TYPE_GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
pub(crate) const TRAILERS: HeaderValue = HeaderValue::from_static("trailers");
pub(crate) const USER_AGENT: HeaderValue =
    HeaderValue::from_static(concat!("tern/", env!("CARGO_PKG_VERSION")));

const STATUS_VALUES: [HeaderValue; 17] = [
    HeaderValue::from_static("0"),
    HeaderValue::from_static("1"),
    HeaderValue::from_static("2"),
    HeaderValue::from_static("3"),
    HeaderValue::from_static("4"),
    HeaderValue::from_static("5"),
    HeaderValue::from_static("6"),
    HeaderValue::from_static("7"),
    HeaderValue::from_static("8"),
    HeaderValue::from_static("9"),
    HeaderValue::from_static("10"),
    HeaderValue::from_static("11"),
    HeaderValue::from_static("12"),
    HeaderValue::from_static("13"),
    HeaderValue::from_static("14"),
    HeaderValue::from_static("15"),
    HeaderValue::from_static("16"),
];

/// True for `application/grpc` and its `+format` / `;params` variants.
pub(crate) fn is_grpc_content_type(value: &HeaderValue) -> bool {
    let value = value.as_bytes();
    let Some(rest) = value.strip_prefix(b"application/grpc") else {
        return false;
    };
    rest.is_empty() || rest[0] == b'+' || rest[0] == b';'
}

/// Writes the status fields, and the status's own trailing metadata, into a trailer block.
pub(crate) fn write_status(status: &Status, headers: &mut HeaderMap) {
    headers.insert(GRPC_STATUS, STATUS_VALUES[status.code() as usize].clone());
    if !status.message().is_empty() {
        // Percent-encoding leaves only printable ASCII, which is always a valid header value.
        if let Ok(value) = HeaderValue::from_str(&percent::encode(status.message())) {
            headers.insert(GRPC_MESSAGE, value);
        }
    }
    if !status.details().is_empty() {
        let encoded = b64::STANDARD_NO_PAD.encode(status.details());
        if let Ok(value) = HeaderValue::from_str(&encoded) {
            headers.insert(GRPC_STATUS_DETAILS, value);
        }
    }
    status.metadata().write_to(headers);
}

/// Reads the status from a trailer block (or a Trailers-Only response's headers); `None` when the
/// block has no `grpc-status`. The block's custom metadata becomes the status's metadata.
pub(crate) fn read_status(headers: HeaderMap) -> Option<Status> {
    let code = headers.get(&GRPC_STATUS)?;
    let code = std::str::from_utf8(code.as_bytes())
        .ok()
        .and_then(|s| s.parse::<i32>().ok());
    let Some(code) = code else {
        return Some(Status::unknown(format!(
            "peer sent a grpc-status that is not a number: {:?}",
            headers.get(&GRPC_STATUS)
        )));
    };
    let message = headers
        .get(&GRPC_MESSAGE)
        .map(|m| percent::decode(m.as_bytes()))
        .unwrap_or_default();
    let details = headers
        .get(&GRPC_STATUS_DETAILS)
        .and_then(|d| b64::decode(d.as_bytes()))
        .map(Bytes::from)
        .unwrap_or_default();
    let mut status = Status::with_details(Code::from_i32(code), message, details);
    status.set_metadata(Metadata::from_headers(headers));
    Some(status)
}

/// The gRPC code for a response whose HTTP status is not 200, per the spec's
/// `http-grpc-status-mapping`.
pub(crate) fn code_for_http_status(status: StatusCode) -> Code {
    match status.as_u16() {
        400 => Code::Internal,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::Unimplemented,
        429 | 502 | 503 | 504 => Code::Unavailable,
        _ => Code::Unknown,
    }
}

/// The gRPC code for a stream reset with this HTTP/2 error code, per the spec's
/// `RST_STREAM` mapping.
pub(crate) fn code_for_reset(reason: u32) -> Code {
    match reason {
        0x7 => Code::Unavailable,       // REFUSED_STREAM
        0x8 => Code::Cancelled,         // CANCEL
        0xb => Code::ResourceExhausted, // ENHANCE_YOUR_CALM
        0xc => Code::PermissionDenied,  // INADEQUATE_SECURITY
        _ => Code::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        for ok in [
            "application/grpc",
            "application/grpc+proto",
            "application/grpc;charset=utf-8",
        ] {
            assert!(is_grpc_content_type(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in ["application/grpcx", "application/json", "text/plain", ""] {
            assert!(
                !is_grpc_content_type(&HeaderValue::from_static(bad)),
                "{bad}"
            );
        }
    }

    #[test]
    fn status_round_trips_through_trailers() {
        let mut status = Status::with_details(
            Code::NotFound,
            "caf\u{e9} not found: 100%",
            Bytes::from_static(&[8, 5, 0xff]),
        );
        status.metadata_mut().insert("x-extra", "1").unwrap();
        let mut trailers = HeaderMap::new();
        write_status(&status, &mut trailers);
        assert_eq!(trailers["grpc-status"], "5");
        assert_eq!(trailers["grpc-message"], "caf%C3%A9 not found: 100%25");
        assert_eq!(trailers["grpc-status-details-bin"], "CAX/");
        let back = read_status(trailers).unwrap();
        assert_eq!(back.code(), Code::NotFound);
        assert_eq!(back.message(), "caf\u{e9} not found: 100%");
        assert_eq!(&back.details()[..], &[8, 5, 0xff]);
        assert_eq!(back.metadata().get("x-extra"), Some("1"));
        assert_eq!(back.metadata().len(), 1);
    }

    #[test]
    fn every_code_is_written_as_its_number() {
        for code in Code::ALL {
            let mut trailers = HeaderMap::new();
            write_status(&Status::new(code, ""), &mut trailers);
            assert_eq!(trailers["grpc-status"], code.as_i32().to_string().as_str());
            assert!(!trailers.contains_key("grpc-message"));
            assert_eq!(read_status(trailers).unwrap().code(), code);
        }
    }

    #[test]
    fn missing_or_garbled_status() {
        assert!(read_status(HeaderMap::new()).is_none());
        let mut trailers = HeaderMap::new();
        trailers.insert(GRPC_STATUS, HeaderValue::from_static("abc"));
        assert_eq!(read_status(trailers).unwrap().code(), Code::Unknown);
        let mut trailers = HeaderMap::new();
        trailers.insert(GRPC_STATUS, HeaderValue::from_static("99"));
        assert_eq!(read_status(trailers).unwrap().code(), Code::Unknown);
    }

    #[test]
    fn http_statuses_map_per_spec() {
        let map = |s: u16| code_for_http_status(StatusCode::from_u16(s).unwrap());
        assert_eq!(map(400), Code::Internal);
        assert_eq!(map(401), Code::Unauthenticated);
        assert_eq!(map(403), Code::PermissionDenied);
        assert_eq!(map(404), Code::Unimplemented);
        for s in [429, 502, 503, 504] {
            assert_eq!(map(s), Code::Unavailable);
        }
        assert_eq!(map(500), Code::Unknown);
        assert_eq!(map(302), Code::Unknown);
    }

    #[test]
    fn reset_codes_map_per_spec() {
        assert_eq!(code_for_reset(0x8), Code::Cancelled);
        assert_eq!(code_for_reset(0x7), Code::Unavailable);
        assert_eq!(code_for_reset(0xb), Code::ResourceExhausted);
        assert_eq!(code_for_reset(0x2), Code::Internal);
    }
}
