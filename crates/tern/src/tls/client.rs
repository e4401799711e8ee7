//! The client's TLS: which servers it trusts (the system's roots, or CAs the user gives), the
//! identity it presents for mutual TLS, and the handshake of one connection, which insists on
//! HTTP/2 (ALPN `h2`) and explains a failure in terms of the address dialed.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

use super::{explain_io, provider, Certificate, Identity, Remote, ALPN_H2};
use crate::error::{Error, ErrorKind};

/// A client's TLS settings. With none given, an `https://` target is verified against the
/// system's root certificates.
///
/// ```no_run
/// # fn f() -> Result<(), tern::Error> {
/// use tern::tls::{Certificate, ClientTlsConfig};
/// let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem_file("ca.pem")?);
/// let channel = tern::Channel::builder("https://10.0.0.7:8443")?
///     .tls(tls)
///     // SNI, the name the certificate must have, and :authority, all three.
///     .authority_override("api.internal")?
///     .lazy();
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct ClientTlsConfig {
    ca: Option<Certificate>,
    identity: Option<Identity>,
    insecure: bool,
}

impl ClientTlsConfig {
    /// Trusts the system's root certificates.
    pub fn new() -> ClientTlsConfig {
        ClientTlsConfig::default()
    }

    /// Trusts only `ca` (every certificate in it), instead of the system's roots.
    pub fn ca_certificate(mut self, ca: Certificate) -> ClientTlsConfig {
        match &mut self.ca {
            Some(roots) => roots.ders.extend(ca.ders),
            None => self.ca = Some(ca),
        }
        self
    }

    /// Presents `identity` to servers that ask for a client certificate (mutual TLS).
    pub fn identity(mut self, identity: Identity) -> ClientTlsConfig {
        self.identity = Some(identity);
        self
    }

    /// Accepts any server certificate, unverified: for testing against a server whose
    /// certificate cannot be checked. The connection is encrypted but anyone could be at the
    /// other end. Never in production.
    pub fn danger_accept_invalid_certificates(mut self) -> ClientTlsConfig {
        self.insecure = true;
        self
    }

    pub(crate) fn build(&self) -> Result<ClientTls, Error> {
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::Tls, "TLS protocol versions", e))?;
        let builder = if self.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer { provider }))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let mut config = match &self.identity {
            Some(identity) => {
                builder.with_client_cert_resolver(Arc::new(ClientIdentity(identity.key.clone())))
            }
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(ClientTls {
            config: Arc::new(config),
            has_identity: self.identity.is_some(),
        })
    }

    fn roots(&self) -> Result<Arc<RootCertStore>, Error> {
        let Some(ca) = &self.ca else {
            return system_roots().map_err(|why| Error::msg(ErrorKind::Tls, why));
        };
        let mut roots = RootCertStore::empty();
        for der in &ca.ders {
            roots.add(der.clone()).map_err(|e| {
                Error::msg(
                    ErrorKind::Tls,
                    format!("the CA certificate is not usable as a root: {e}"),
                )
            })?;
        }
        Ok(Arc::new(roots))
    }
}

/// The system's trusted roots, read once per process (it reads every file of the system's
/// store, which takes milliseconds). rustls-native-certs rather than a compiled-in list
/// (webpki-roots): the operating system's store is what administrators update and where
/// companies install their internal CAs, and `SSL_CERT_FILE` / `SSL_CERT_DIR` point it
/// elsewhere, as they do for OpenSSL and grpc's C core.
fn system_roots() -> Result<Arc<RootCertStore>, String> {
    static ROOTS: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found
                    .errors
                    .first()
                    .map_or_else(String::new, |e| format!(" ({e})"));
                return Err(format!(
                    "no trusted root certificates found in the system's store{why}: give a CA \
                     certificate, or set SSL_CERT_FILE"
                ));
            }
            Ok(Arc::new(roots))
        })
        .clone()
}

/// Always presents the one identity it holds.
#[derive(Debug)]
struct ClientIdentity(Arc<CertifiedKey>);

impl ResolvesClientCert for ClientIdentity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Accepts every server certificate but still checks the handshake's signatures with it, so the
/// session is at least bound to the key the server showed.
#[derive(Debug)]
struct AcceptAnyServer {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A client's TLS, ready to connect.
#[derive(Clone)]
pub(crate) struct ClientTls {
    config: Arc<ClientConfig>,
    has_identity: bool,
}

/// Notes that the server asked for a client certificate, then answers as the configuration
/// would. A server that rejects the certificate (or its absence) may just close the
/// connection without an alert, as BoringSSL-based servers do; knowing it asked turns "the
/// connection closed" into what to fix.
#[derive(Debug)]
struct NoteRequest {
    inner: Arc<dyn ResolvesClientCert>,
    asked: Arc<AtomicBool>,
}

impl ResolvesClientCert for NoteRequest {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.asked.store(true, Ordering::Relaxed);
        self.inner.resolve(root_hint_subjects, sigschemes)
    }

    fn has_certs(&self) -> bool {
        self.inner.has_certs()
    }
}

/// What one TLS connection's handshake showed, for explaining a close that came without a reason.
#[derive(Clone, Debug)]
pub(crate) struct HandshakeNotes {
    asked_for_certificate: Arc<AtomicBool>,
    presented_certificate: bool,
}

impl HandshakeNotes {
    /// Why the server most likely closed the connection without saying, if the handshake tells.
    pub(crate) fn explain_silent_close(&self) -> Option<&'static str> {
        if !self.asked_for_certificate.load(Ordering::Relaxed) {
            return None;
        }
        Some(if self.presented_certificate {
            "the server asked for a client certificate and closed the connection after this              side presented one: it may not trust the certificate's issuer"
        } else {
            "the server asked for a client certificate, none was given, and it closed the              connection: give a client certificate and key (mutual TLS)"
        })
    }
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientTls")
    }
}

/// What a TLS connection needs to know of where it goes.
#[derive(Clone, Debug)]
pub(crate) struct TlsConnect {
    pub(crate) tls: ClientTls,
    /// The name sent as SNI and checked in the server's certificate.
    pub(crate) server_name: ServerName<'static>,
}

impl TlsConnect {
    pub(crate) fn new(tls: ClientTls, name: &str) -> Result<TlsConnect, Error> {
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server_name = ServerName::try_from(name.to_owned()).map_err(|_| {
            Error::msg(
                ErrorKind::InvalidAddress,
                format!("{name:?} is not a host name or IP address TLS can check"),
            )
        })?;
        Ok(TlsConnect { tls, server_name })
    }

    /// The TLS handshake over `io`, to the server `target` names (for messages).
    pub(crate) async fn connect<IO>(
        &self,
        io: IO,
        target: &str,
    ) -> Result<(TlsStream<IO>, HandshakeNotes), Error>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let notes = HandshakeNotes {
            asked_for_certificate: Arc::new(AtomicBool::new(false)),
            presented_certificate: self.tls.has_identity,
        };
        // A configuration per connection, to note what this handshake asked; cloning it copies
        // a few Arcs.
        let mut config = (*self.tls.config).clone();
        config.client_auth_cert_resolver = Arc::new(NoteRequest {
            inner: config.client_auth_cert_resolver.clone(),
            asked: notes.asked_for_certificate.clone(),
        });
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let stream = connector
            .connect(self.server_name.clone(), io)
            .await
            .map_err(|e| {
                let why = match notes.explain_silent_close() {
                    Some(why) if e.kind() == std::io::ErrorKind::UnexpectedEof => why.to_owned(),
                    _ => explain_io(&e, Remote::Server),
                };
                Error::msg(
                    ErrorKind::Tls,
                    format!("TLS handshake with {target} failed: {why}"),
                )
            })?;
        if stream.get_ref().1.alpn_protocol() != Some(ALPN_H2) {
            return Err(Error::msg(
                ErrorKind::Tls,
                format!(
                    "TLS handshake with {target}: the server did not agree to HTTP/2 (ALPN \
                     \"h2\"), which gRPC needs"
                ),
            ));
        }
        Ok((stream, notes))
    }
}
