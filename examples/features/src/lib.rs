//! Short examples of Tern's features: `cargo run -p tern-features --example NAME`, for NAME in
//! `deadlines`, `compression`, `errors`, `health_reflection`, `tls`, `in_memory` and `interceptors`. Each runs
//! a server and a client in one process, prints what happens and fails if anything differs
//! from what it explains; the test command runs them all. This library holds what they share.

use std::net::SocketAddr;

use tern::server::{Router, Routes};

/// Serves `router` on a free loopback port on a task of its own, returning the address.
pub async fn serve_in_background<R: Routes>(router: Router<R>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(router.serve_listener(listener, std::future::pending()));
    Ok(addr)
}

/// Fails the example with `message` unless `ok`.
pub fn expect(ok: bool, message: &str) -> Result<(), Box<dyn std::error::Error>> {
    if ok {
        Ok(())
    } else {
        Err(format!("unexpected: {message}").into())
    }
}
