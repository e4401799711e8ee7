//! The rules a decoded header list must meet for its place (RFC 9113 §8.2–8.3): a request's
//! pseudo-headers, a response's `:status`, trailers without pseudo-headers, and for every
//! regular field lowercase names, no connection-specific fields, `te` only `trailers`, and a
//! well-formed `content-length`. A violation is malformed (§8.1.1): a stream error of type
//! PROTOCOL_ERROR, never the connection's. The lists come out as `http` types.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use http::{HeaderMap, Method, StatusCode};

use super::super::hpack::decoder::HeaderField;
use super::RequestHead;

/// A header list parsed for its place, with the `content-length` it declared.
pub(super) struct Parsed<T> {
    pub(super) head: T,
    pub(super) content_length: Option<u64>,
}

/// Adds a regular field to `map`, checking the rules every regular field must meet.
fn regular(
    map: &mut HeaderMap,
    field: &HeaderField,
    content_length: &mut Option<u64>,
) -> Result<(), &'static str> {
    let name = field.name();
    if name.iter().any(u8::is_ascii_uppercase) {
        return Err("uppercase header name");
    }
    if matches!(
        name,
        b"connection" | b"proxy-connection" | b"keep-alive" | b"transfer-encoding" | b"upgrade"
    ) {
        return Err("connection-specific header field");
    }
    if name == b"te" && field.value() != b"trailers" {
        return Err("te other than trailers");
    }
    if name == b"content-length" {
        let value = parse_length(field.value()).ok_or("invalid content-length")?;
        if content_length.is_some_and(|v| v != value) {
            return Err("conflicting content-length values");
        }
        *content_length = Some(value);
    }
    let name = HeaderName::from_bytes(name).map_err(|_| "invalid header name")?;
    let mut value = HeaderValue::from_maybe_shared(field.value_bytes().clone())
        .map_err(|_| "invalid header value")?;
    value.set_sensitive(field.is_sensitive());
    map.append(name, value);
    Ok(())
}

fn parse_length(value: &[u8]) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn set_once(slot: &mut Option<Bytes>, field: &HeaderField) -> Result<(), &'static str> {
    if slot.is_some() {
        return Err("repeated pseudo-header");
    }
    *slot = Some(field.value_bytes().clone());
    Ok(())
}

/// A request's header list (§8.3.1).
pub(super) fn request(fields: &[HeaderField]) -> Result<Parsed<RequestHead>, &'static str> {
    let (mut method, mut scheme, mut authority, mut path) = (None, None, None, None);
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut content_length = None;
    let mut regular_seen = false;
    for field in fields {
        if field.name().first() == Some(&b':') {
            if regular_seen {
                return Err("pseudo-header after a regular header");
            }
            match field.name() {
                b":method" => set_once(&mut method, field)?,
                b":scheme" => set_once(&mut scheme, field)?,
                b":authority" => set_once(&mut authority, field)?,
                b":path" => set_once(&mut path, field)?,
                _ => return Err("unknown or response pseudo-header in a request"),
            }
        } else {
            regular_seen = true;
            regular(&mut headers, field, &mut content_length)?;
        }
    }
    let method = method.ok_or("missing :method")?;
    let method = Method::from_bytes(&method).map_err(|_| "invalid :method")?;
    let path = if method == Method::CONNECT {
        // §8.5: only :method and :authority.
        if scheme.is_some() || path.is_some() || authority.is_none() {
            return Err("malformed CONNECT request");
        }
        None
    } else {
        if scheme.is_none() {
            return Err("missing :scheme");
        }
        let path = path.ok_or("missing :path")?;
        if path.is_empty() {
            return Err("empty :path");
        }
        if std::str::from_utf8(&path).is_err() {
            return Err("invalid UTF-8 in :path");
        }
        if path.first() != Some(&b'/') && !(method == Method::OPTIONS && &path[..] == b"*") {
            return Err(":path neither absolute nor *");
        }
        Some(PathAndQuery::from_maybe_shared(path).map_err(|_| "invalid :path")?)
    };
    Ok(Parsed {
        head: RequestHead {
            method,
            scheme,
            authority,
            path,
            headers,
        },
        content_length,
    })
}

/// A response's header list (§8.3.2): `:status` and nothing else pseudo.
pub(super) fn response(
    fields: &[HeaderField],
) -> Result<Parsed<(StatusCode, HeaderMap)>, &'static str> {
    let mut status = None;
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut content_length = None;
    let mut regular_seen = false;
    for field in fields {
        if field.name().first() == Some(&b':') {
            if regular_seen {
                return Err("pseudo-header after a regular header");
            }
            if field.name() != b":status" {
                return Err("unknown or request pseudo-header in a response");
            }
            set_once(&mut status, field)?;
        } else {
            regular_seen = true;
            regular(&mut headers, field, &mut content_length)?;
        }
    }
    let status = status.ok_or("missing :status")?;
    let status = StatusCode::from_bytes(&status).map_err(|_| "invalid :status")?;
    Ok(Parsed {
        head: (status, headers),
        content_length,
    })
}

/// A trailer list (§8.1): regular fields only.
pub(super) fn trailers(fields: &[HeaderField]) -> Result<HeaderMap, &'static str> {
    let mut headers = HeaderMap::with_capacity(fields.len());
    let mut content_length = None;
    for field in fields {
        if field.name().first() == Some(&b':') {
            return Err("pseudo-header in trailers");
        }
        regular(&mut headers, field, &mut content_length)?;
    }
    Ok(headers)
}
