//! TLS on rustls, for both sides: the certificates and keys a user gives (from PEM files or
//! bytes), the server's settings ([`ServerTlsConfig`]: identity, client certificates for mTLS,
//! rotation without a restart) and the client's ([`ClientTlsConfig`]: roots, identity, the name
//! to check). gRPC over TLS is HTTP/2 negotiated with ALPN `h2`: both sides insist on it.
//!
//! ```no_run
//! # async fn f<S: tern::server::Service>(service: S) -> Result<(), tern::Error> {
//! use tern::tls::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
//!
//! // A server that also asks clients for a certificate signed by its CA (mTLS).
//! let identity = Identity::from_pem_files("server.pem", "server.key")?;
//! let tls = ServerTlsConfig::new(identity).client_ca(Certificate::from_pem_file("ca.pem")?);
//! tern::Server::builder().tls(tls)?.add_service(service).serve("0.0.0.0:443".parse().unwrap()).await?;
//!
//! // A client trusting that CA, and presenting its own certificate.
//! let tls = ClientTlsConfig::new()
//!     .ca_certificate(Certificate::from_pem_file("ca.pem")?)
//!     .identity(Identity::from_pem_files("client.pem", "client.key")?);
//! let channel = tern::Channel::builder("https://api.example.com")?.tls(tls).connect().await?;
//! # Ok(()) }
//! ```
//!
//! The crypto provider is ring (cargo feature `tls`, on by default), or aws-lc-rs with the
//! feature `tls-aws-lc-rs`, which wins when both are on.

mod client;
mod explain;
mod pem;
mod server;

use std::sync::Arc;

pub use rustls_pki_types::CertificateDer;

pub use client::ClientTlsConfig;
pub(crate) use client::TlsConnect;
pub(crate) use explain::{explain_io, Remote};
pub use pem::{Certificate, Identity};
pub(crate) use server::{accept, ServerTls};
pub use server::{ClientAuth, IdentityHandle, ServerTlsConfig};

/// The ALPN protocol of gRPC: HTTP/2 over TLS.
pub(crate) const ALPN_H2: &[u8] = b"h2";

/// The crypto provider every config here is built with.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[cfg(feature = "tls-aws-lc-rs")]
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(not(feature = "tls-aws-lc-rs"))]
    let provider = rustls::crypto::ring::default_provider();
    Arc::new(provider)
}

/// What a server knows of the TLS session a call arrived on.
#[derive(Debug)]
pub(crate) struct TlsInfo {
    /// The client's certificate chain, leaf first, when it presented one.
    pub(crate) peer_certificates: Option<Vec<CertificateDer<'static>>>,
    /// The name the client asked for (SNI), if it sent one.
    pub(crate) server_name: Option<String>,
    /// The negotiated cipher suite's standard name, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub(crate) cipher_suite: Option<&'static str>,
}
