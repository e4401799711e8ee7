//! The server's TLS: its settings ([`ServerTlsConfig`]), the certificate each new connection is
//! given (fixed, swapped through an [`IdentityHandle`], or reloaded when its files change, so
//! renewed certificates take effect without a restart), and the handshake of one connection —
//! which also tells a cleartext client that it knocked on a TLS port, and refuses a client that
//! does not negotiate HTTP/2.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use bytes::{BufMut, Bytes, BytesMut};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::server::TlsStream;

use super::{explain_io, provider, Certificate, Identity, Remote, TlsInfo, ALPN_H2};
use crate::error::{Error, ErrorKind};
use crate::rewind::Rewind;

/// Whether a server with a client CA requires clients to present a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// A client without a valid certificate is refused in the handshake (the default).
    Required,
    /// A client may present no certificate; one it presents must be valid. Handlers see which
    /// through [`Request::peer_certificates`](crate::Request::peer_certificates).
    Optional,
}

/// A server's TLS settings: its identity, and optionally the CA that clients' certificates must
/// chain to (mutual TLS).
///
/// ```no_run
/// # fn f() -> Result<(), tern::Error> {
/// use tern::tls::{ServerTlsConfig, Certificate, ClientAuth};
/// // Reloads server.pem and server.key for new connections whenever they change on disk.
/// let tls = ServerTlsConfig::from_pem_files("server.pem", "server.key")?
///     .client_ca(Certificate::from_pem_file("clients-ca.pem")?)
///     .client_auth(ClientAuth::Optional);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct ServerTlsConfig {
    identity: IdentitySource,
    client_ca: Option<Certificate>,
    client_auth: ClientAuth,
}

impl ServerTlsConfig {
    /// Serves this identity to every connection.
    pub fn new(identity: Identity) -> ServerTlsConfig {
        ServerTlsConfig::with_source(IdentitySource::Fixed(identity.key))
    }

    /// Loads the chain and key from PEM files now (failing if they are unusable), and again for
    /// new connections whenever either file changes: a renewed certificate (cert-manager writing
    /// a Kubernetes secret, say) takes effect without a restart, while connections already open
    /// keep theirs. Files caught half-written are retried when they change again; until then
    /// the last good identity is served.
    pub fn from_pem_files(
        cert: impl Into<PathBuf>,
        key: impl Into<PathBuf>,
    ) -> Result<ServerTlsConfig, Error> {
        let watch = WatchedFiles::load(cert.into(), key.into())?;
        Ok(ServerTlsConfig::with_source(IdentitySource::Files(
            Arc::new(watch),
        )))
    }

    /// Serves whatever identity `handle` holds when each connection starts; the application
    /// swaps it with [`IdentityHandle::set`].
    pub fn from_handle(handle: IdentityHandle) -> ServerTlsConfig {
        ServerTlsConfig::with_source(IdentitySource::Handle(handle))
    }

    fn with_source(identity: IdentitySource) -> ServerTlsConfig {
        ServerTlsConfig {
            identity,
            client_ca: None,
            client_auth: ClientAuth::Required,
        }
    }

    /// Asks clients for a certificate chaining to `ca` (mutual TLS); see
    /// [`ServerTlsConfig::client_auth`].
    pub fn client_ca(mut self, ca: Certificate) -> ServerTlsConfig {
        self.client_ca = Some(ca);
        self
    }

    /// Whether a client certificate is required once a client CA is set (default: required).
    pub fn client_auth(mut self, auth: ClientAuth) -> ServerTlsConfig {
        self.client_auth = auth;
        self
    }

    /// The rustls configuration this describes.
    pub(crate) fn build(&self) -> Result<ServerTls, Error> {
        let provider = provider();
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::Tls, "TLS protocol versions", e))?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for der in &ca.ders {
                    roots.add(der.clone()).map_err(|e| {
                        Error::msg(
                            ErrorKind::Tls,
                            format!("the client CA certificate is not usable: {e}"),
                        )
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = match self.client_auth {
                    ClientAuth::Required => verifier,
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                };
                let verifier = verifier.build().map_err(|e| {
                    Error::new(ErrorKind::Tls, "cannot verify client certificates", e)
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::new(Resolver {
            source: self.identity.clone(),
        }));
        config.alpn_protocols = vec![ALPN_H2.to_vec()];
        Ok(ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// A server identity the application can swap while serving; new connections get the new one.
///
/// ```no_run
/// # fn f(renewed: tern::tls::Identity) -> Result<(), tern::Error> {
/// use tern::tls::{Identity, IdentityHandle, ServerTlsConfig};
/// let handle = IdentityHandle::new(Identity::from_pem_files("server.pem", "server.key")?);
/// let tls = ServerTlsConfig::from_handle(handle.clone());
/// // later, from anywhere:
/// handle.set(renewed);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct IdentityHandle(Arc<RwLock<Arc<CertifiedKey>>>);

impl fmt::Debug for IdentityHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityHandle")
    }
}

impl IdentityHandle {
    /// A handle holding `identity`.
    pub fn new(identity: Identity) -> IdentityHandle {
        IdentityHandle(Arc::new(RwLock::new(identity.key)))
    }

    /// Serves `identity` to connections from now on.
    pub fn set(&self, identity: Identity) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = identity.key;
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[derive(Clone, Debug)]
enum IdentitySource {
    Fixed(Arc<CertifiedKey>),
    Handle(IdentityHandle),
    Files(Arc<WatchedFiles>),
}

/// What identifies a version of a file on disk.
type Stamp = Option<(SystemTime, u64)>;

fn stamp(path: &Path) -> Stamp {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// A chain and key read from files, read again when either file's stamp changes.
#[derive(Debug)]
struct WatchedFiles {
    cert: PathBuf,
    key: PathBuf,
    /// The stamps last seen, and the identity last loaded successfully.
    state: Mutex<((Stamp, Stamp), Arc<CertifiedKey>)>,
}

impl WatchedFiles {
    fn load(cert: PathBuf, key: PathBuf) -> Result<WatchedFiles, Error> {
        let stamps = (stamp(&cert), stamp(&key));
        let identity = Identity::from_pem_files(&cert, &key)?;
        Ok(WatchedFiles {
            cert,
            key,
            state: Mutex::new((stamps, identity.key)),
        })
    }

    /// The identity for a new connection: two `stat`s, and a reload when either file changed.
    fn current(&self) -> Arc<CertifiedKey> {
        let stamps = (stamp(&self.cert), stamp(&self.key));
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.0 != stamps {
            // Recorded even when the reload fails, so a broken file is not parsed again for every
            // connection; writing the fixed file changes its stamp again.
            state.0 = stamps;
            match Identity::from_pem_files(&self.cert, &self.key) {
                Ok(identity) => {
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                    state.1 = identity.key;
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "TLS certificate files changed but cannot be loaded; serving the previous one"
                ),
            }
        }
        state.1.clone()
    }
}

/// Picks the identity for each handshake.
#[derive(Debug)]
struct Resolver {
    source: IdentitySource,
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match &self.source {
            IdentitySource::Fixed(key) => key.clone(),
            IdentitySource::Handle(handle) => handle.current(),
            IdentitySource::Files(files) => files.current(),
        })
    }
}

/// A server's TLS, ready to accept connections.
#[derive(Clone)]
pub(crate) struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerTls")
    }
}

/// A connection after its TLS handshake.
pub(crate) struct Accepted<IO> {
    pub(crate) io: TlsStream<Rewind<IO>>,
    pub(crate) info: Arc<TlsInfo>,
}

/// The first byte of every TLS connection: a handshake record.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Runs the TLS handshake on a new connection. The error says, for the server's log, what the
/// client did wrong. The caller bounds the time it may take.
pub(crate) async fn accept<IO>(tls: &ServerTls, mut io: IO) -> Result<Accepted<IO>, String>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut first = [0u8; 1];
    let n = io
        .read(&mut first)
        .await
        .map_err(|e| format!("reading the TLS ClientHello: {e}"))?;
    if n == 0 {
        return Err("connection closed before the TLS handshake".into());
    }
    if first[0] != TLS_HANDSHAKE_RECORD {
        return Err(refuse_cleartext(io, first[0]).await);
    }
    let io = Rewind::new(Bytes::copy_from_slice(&first), io);
    let stream = tls
        .acceptor
        .accept(io)
        .await
        .map_err(|e| format!("TLS handshake failed: {}", explain_io(&e, Remote::Client)))?;
    let (_, session) = stream.get_ref();
    if session.alpn_protocol() != Some(ALPN_H2) {
        // rustls has already refused a client that offered only other protocols; this one
        // offered none. gRPC needs HTTP/2, and a client that did not ask for it may not speak it.
        return Err(
            "the client did not negotiate HTTP/2 with ALPN (it must offer \"h2\"): closing".into(),
        );
    }
    let info = TlsInfo {
        peer_certificates: session.peer_certificates().map(<[_]>::to_vec),
        server_name: session.server_name().map(str::to_owned),
        cipher_suite: session
            .negotiated_cipher_suite()
            .and_then(|suite| suite.suite().as_str()),
    };
    Ok(Accepted {
        io: stream,
        info: Arc::new(info),
    })
}

/// Answers a client that sent something other than TLS to a TLS port in its own protocol, when
/// that is HTTP, and gives the reason for the log.
async fn refuse_cleartext<IO>(mut io: IO, first: u8) -> String
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = vec![first];
    let mut buf = [0u8; 64];
    // Enough of the start to tell HTTP/2's preface from an HTTP/1 request line.
    while head.len() < crate::server::PREFACE.len() {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if !crate::server::PREFACE.starts_with(&head[..head.len().min(3)]) {
            break;
        }
    }
    let (answer, why) = if head.starts_with(b"PRI ") {
        (
            cleartext_goaway(),
            "a cleartext HTTP/2 client connected to this TLS port: sent GOAWAY",
        )
    } else if looks_like_http1(&head) {
        (
            Bytes::from_static(
                b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\
                  content-length: 52\r\n\r\nthis is a gRPC server that requires TLS: use https\r\n",
            ),
            "a cleartext HTTP/1 request arrived on this TLS port: answered 400",
        )
    } else {
        (Bytes::new(), "the client did not start a TLS handshake")
    };
    let _ = io.write_all(&answer).await;
    let _ = io.shutdown().await;
    // Read what the client has still to send, briefly, so that closing does not reset the
    // connection before it has read the answer.
    let drain = async { while matches!(io.read(&mut buf).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), drain).await;
    why.to_owned()
}

/// Whether bytes start like an HTTP/1 request line: a method of capital letters, then a space.
fn looks_like_http1(head: &[u8]) -> bool {
    let method_len = head.iter().take_while(|b| b.is_ascii_uppercase()).count();
    (3..=7).contains(&method_len) && head.get(method_len) == Some(&b' ')
}

/// An empty SETTINGS and a GOAWAY whose debug data says why: what an HTTP/2 client prints.
fn cleartext_goaway() -> Bytes {
    const DEBUG: &[u8] = b"this server requires TLS: connect with https";
    let mut out = BytesMut::with_capacity(9 + 9 + 8 + DEBUG.len());
    // SETTINGS, empty.
    out.put_slice(&[0, 0, 0, 0x4, 0, 0, 0, 0, 0]);
    // GOAWAY: last stream 0, PROTOCOL_ERROR.
    let len = 8 + DEBUG.len();
    out.put_slice(&[
        (len >> 16) as u8,
        (len >> 8) as u8,
        len as u8,
        0x7,
        0,
        0,
        0,
        0,
        0,
    ]);
    out.put_u32(0);
    out.put_u32(0x1);
    out.put_slice(DEBUG);
    out.freeze()
}
