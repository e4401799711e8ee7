//! The gRPC-over-HTTP/2 protocol with no IO: message framing, the headers and trailers the spec
//! defines (`grpc-timeout`, `grpc-status`, `grpc-message`, content type, HTTP status mapping) and
//! their encodings. Everything here works on bytes and values only, so it is tested, and can be
//! fuzzed, without sockets or a runtime; the server and client drive it over a transport.

pub(crate) mod base64;
pub mod compression;
pub mod frame;
pub(crate) mod headers;
pub mod percent;
pub mod timeout;
