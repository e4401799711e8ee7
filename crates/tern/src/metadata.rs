//! Custom metadata: the user's key/value pairs carried in HTTP/2 headers and trailers.
//!
//! ASCII keys hold printable ASCII values; keys ending in `-bin` hold arbitrary bytes, sent
//! base64-encoded (received padded or unpadded). Reserved headers (`grpc-*`, `content-type`, `te`,
//! pseudo headers, hop-by-hop headers) never appear here: the runtime owns them.

use std::fmt;

use base64::Engine as _;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::protocol::base64 as b64;

/// Metadata sent or received with a call: request headers, response headers, or trailers.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    headers: HeaderMap,
}

/// Why a key or value cannot be metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMetadata {
    reason: String,
}

impl fmt::Display for InvalidMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for InvalidMetadata {}

fn invalid(reason: String) -> InvalidMetadata {
    InvalidMetadata { reason }
}

/// True for headers that the gRPC runtime or HTTP/2 itself owns. The two retry headers are
/// not: servers set `grpc-retry-pushback-ms` to slow retries down, and both may be read, as
/// grpc-go allows.
pub(crate) fn is_reserved(key: &str) -> bool {
    (key.starts_with("grpc-")
        && !matches!(key, "grpc-retry-pushback-ms" | "grpc-previous-rpc-attempts"))
        || key.starts_with(':')
        || matches!(
            key,
            "content-type"
                | "te"
                | "content-length"
                | "connection"
                | "keep-alive"
                | "proxy-connection"
                | "transfer-encoding"
                | "upgrade"
                | "host"
        )
}

fn key_name(key: &str) -> Result<HeaderName, InvalidMetadata> {
    let valid = !key.is_empty()
        && key
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'_' | b'-' | b'.'));
    if !valid {
        return Err(invalid(format!(
            "invalid metadata key {key:?}: keys are lowercase letters, digits, '_', '-' and '.'"
        )));
    }
    if is_reserved(key) {
        return Err(invalid(format!(
            "metadata key {key:?} is reserved for the gRPC runtime"
        )));
    }
    HeaderName::from_bytes(key.as_bytes())
        .map_err(|_| invalid(format!("invalid metadata key {key:?}")))
}

fn is_binary_key(key: &str) -> bool {
    key.ends_with("-bin")
}

impl Metadata {
    /// Empty metadata.
    pub fn new() -> Metadata {
        Metadata::default()
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.headers.len()
    }

    /// True when there are no values.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }

    /// Sets an ASCII key to a printable ASCII value, replacing what it held.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let (name, value) = Self::ascii_pair(key, value)?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Adds a value to an ASCII key, keeping those it held.
    pub fn append(&mut self, key: &str, value: &str) -> Result<(), InvalidMetadata> {
        let (name, value) = Self::ascii_pair(key, value)?;
        self.headers.append(name, value);
        Ok(())
    }

    /// Adds every value of `other`, keeping the values this metadata held.
    pub fn extend(&mut self, other: Metadata) {
        let mut last = None;
        for (name, value) in other.headers {
            // A HeaderMap iterates each key once, with None for its further values.
            if let Some(name) = name {
                last = Some(name);
            }
            if let Some(name) = &last {
                self.headers.append(name.clone(), value);
            }
        }
    }

    /// Sets a binary key (its name must end in `-bin`) to these bytes, replacing what it held.
    pub fn insert_bin(&mut self, key: &str, value: &[u8]) -> Result<(), InvalidMetadata> {
        let (name, value) = Self::binary_pair(key, value)?;
        self.headers.insert(name, value);
        Ok(())
    }

    /// Adds a value to a binary key, keeping those it held.
    pub fn append_bin(&mut self, key: &str, value: &[u8]) -> Result<(), InvalidMetadata> {
        let (name, value) = Self::binary_pair(key, value)?;
        self.headers.append(name, value);
        Ok(())
    }

    fn ascii_pair(key: &str, value: &str) -> Result<(HeaderName, HeaderValue), InvalidMetadata> {
        if is_binary_key(key) {
            return Err(invalid(format!(
                "metadata key {key:?} ends in -bin: use insert_bin for binary values"
            )));
        }
        let name = key_name(key)?;
        if !value.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(invalid(format!(
                "metadata value for {key:?} must be printable ASCII; use a -bin key for other bytes"
            )));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| invalid(format!("invalid metadata value for {key:?}")))?;
        Ok((name, value))
    }

    fn binary_pair(key: &str, value: &[u8]) -> Result<(HeaderName, HeaderValue), InvalidMetadata> {
        if !is_binary_key(key) {
            return Err(invalid(format!(
                "binary metadata key {key:?} must end in -bin"
            )));
        }
        let name = key_name(key)?;
        let encoded = b64::STANDARD_NO_PAD.encode(value);
        let value = HeaderValue::from_str(&encoded)
            .map_err(|_| invalid(format!("invalid metadata value for {key:?}")))?;
        Ok((name, value))
    }

    /// The first value of an ASCII key.
    pub fn get(&self, key: &str) -> Option<&str> {
        if is_binary_key(key) {
            return None;
        }
        self.headers.get(key).and_then(|v| v.to_str().ok())
    }

    /// Every value of an ASCII key, in order.
    pub fn get_all<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a str> + 'a {
        let values = if is_binary_key(key) {
            None
        } else {
            Some(self.headers.get_all(key).iter())
        };
        values.into_iter().flatten().filter_map(|v| v.to_str().ok())
    }

    /// The first value of a binary key, decoded; `Some(Err)` when the peer sent invalid base64.
    pub fn get_bin(&self, key: &str) -> Option<Result<Vec<u8>, InvalidMetadata>> {
        if !is_binary_key(key) {
            return None;
        }
        self.headers.get(key).map(|v| decode_bin(key, v))
    }

    /// Every value of a binary key, decoded, in order.
    pub fn get_all_bin<'a>(
        &'a self,
        key: &'a str,
    ) -> impl Iterator<Item = Result<Vec<u8>, InvalidMetadata>> + 'a {
        let values = if is_binary_key(key) {
            Some(self.headers.get_all(key).iter())
        } else {
            None
        };
        values
            .into_iter()
            .flatten()
            .map(move |v| decode_bin(key, v))
    }

    /// Removes every value of a key; true when there was one.
    pub fn remove(&mut self, key: &str) -> bool {
        self.headers.remove(key).is_some()
    }

    /// The keys, each once.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.headers.keys().map(|k| k.as_str())
    }

    /// Keeps only the user's metadata from a block of received headers.
    pub(crate) fn from_headers(mut headers: HeaderMap) -> Metadata {
        // Most calls carry no custom metadata: check before rebuilding anything.
        if headers.keys().any(|k| is_reserved(k.as_str())) {
            headers.retain_user();
        }
        Metadata { headers }
    }

    /// Adds these values to a block of headers about to be sent.
    pub(crate) fn write_to(&self, headers: &mut HeaderMap) {
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
    }

    pub(crate) fn into_headers(self) -> HeaderMap {
        self.headers
    }
}

trait RetainUser {
    fn retain_user(&mut self);
}

impl RetainUser for HeaderMap {
    fn retain_user(&mut self) {
        // Removing in place keeps the map's table; rebuilding it rehashed every header and cost
        // ~1,600 instructions a call. A request carries a handful of headers, so finding each
        // reserved one afresh is cheap.
        while let Some(name) = self.keys().find(|k| is_reserved(k.as_str())).cloned() {
            self.remove(&name);
        }
    }
}

/// Checks that every binary value in a received header block is base64, as the spec requires;
/// says which key is not.
pub(crate) fn check_binary_values(headers: &HeaderMap) -> Result<(), InvalidMetadata> {
    for (name, value) in headers {
        if is_binary_key(name.as_str()) {
            decode_bin(name.as_str(), value)?;
        }
    }
    Ok(())
}

fn decode_bin(key: &str, value: &HeaderValue) -> Result<Vec<u8>, InvalidMetadata> {
    b64::decode(value.as_bytes())
        .ok_or_else(|| invalid(format!("metadata value for {key:?} is not valid base64")))
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.headers.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_binary_values_round_trip() {
        let mut md = Metadata::new();
        md.insert("x-user", "ada").unwrap();
        md.append("x-user", "grace").unwrap();
        md.insert_bin("x-trace-bin", &[0, 1, 2, 255]).unwrap();
        assert_eq!(md.get("x-user"), Some("ada"));
        assert_eq!(md.get_all("x-user").collect::<Vec<_>>(), ["ada", "grace"]);
        assert_eq!(md.get_bin("x-trace-bin").unwrap().unwrap(), [0, 1, 2, 255]);
        // Sent unpadded, as gRPC implementations do.
        assert_eq!(md.headers.get("x-trace-bin").unwrap(), "AAEC/w");
    }

    #[test]
    fn invalid_keys_and_values_are_rejected() {
        let mut md = Metadata::new();
        assert!(md.insert("X-Upper", "v").is_err());
        assert!(md.insert("grpc-status", "0").is_err());
        assert!(md.insert("content-type", "x").is_err());
        assert!(md.insert("x-key", "caf\u{e9}").is_err());
        assert!(md.insert("x-key", "line\nbreak").is_err());
        assert!(md.insert("x-key-bin", "v").is_err());
        assert!(md.insert_bin("x-key", b"v").is_err());
        assert!(md.is_empty());
    }

    #[test]
    fn padded_and_unpadded_binary_values_decode() {
        let mut headers = HeaderMap::new();
        headers.append("a-bin", HeaderValue::from_static("AAEC/w=="));
        headers.append("a-bin", HeaderValue::from_static("AAEC/w"));
        headers.append("b-bin", HeaderValue::from_static("not base64!"));
        let md = Metadata::from_headers(headers);
        let all: Vec<_> = md.get_all_bin("a-bin").collect();
        assert_eq!(all, [Ok(vec![0, 1, 2, 255]), Ok(vec![0, 1, 2, 255])]);
        assert!(md.get_bin("b-bin").unwrap().is_err());
    }

    #[test]
    fn reserved_headers_are_filtered_from_received_blocks() {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-timeout", HeaderValue::from_static("1S"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let md = Metadata::from_headers(headers);
        assert_eq!(md.len(), 2);
        assert_eq!(md.get_all("x-a").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(md.get("content-type"), None);
    }
}
