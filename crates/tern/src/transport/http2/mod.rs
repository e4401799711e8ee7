//! Tern's own HTTP/2 engine, sans-IO in quinn-proto's shape: bytes and the time go in, events
//! and bytes come out, and nothing here owns a socket, a runtime or a clock. It is being built to
//! replace the `h2` crate behind the `transport` boundary (issue 11); this module holds its
//! parts as they land: header compression ([`hpack`]), the frame codec ([`frame`]), flow-control
//! windows ([`flow`]), stream states ([`stream`]) the sans-IO connection that wires them
//! ([`connection`]), and the tokio driver that runs a server connection on a socket ([`driver`]).

pub(crate) mod connection;
pub(crate) mod driver;
pub(crate) mod flow;
pub(crate) mod frame;
pub(crate) mod hpack;
pub(crate) mod stream;

#[cfg(test)]
mod tests;
