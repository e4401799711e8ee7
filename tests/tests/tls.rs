//! TLS between Tern's client and server: server-authenticated and mutual TLS, what the handler
//! sees of its peer, every mistake a person makes with certificates answered in words that say
//! what to fix, certificate rotation without a restart, and ALPN.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_core::Stream;
use tern::tls::{ClientAuth, ClientTlsConfig, IdentityHandle, ServerTlsConfig};
use tern::{Channel, Code, Request, Server};
use tern_tests::pki::{TestPki, SERVER_NAMES};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::{EchoReply, EchoRequest};
use tern_tests::ProbeService;

async fn serve(server: Server) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        server
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending()),
    );
    addr
}

async fn tls_server(config: ServerTlsConfig) -> SocketAddr {
    serve(Server::builder().tls(config).unwrap()).await
}

async fn echo(client: &ProbeClient) -> Result<EchoReply, tern::Status> {
    let request = EchoRequest {
        message: "over tls".into(),
        ..EchoRequest::default()
    };
    client.echo(request).await.map(tern::Response::into_inner)
}

async fn connect(addr: SocketAddr, tls: ClientTlsConfig) -> Result<ProbeClient, tern::Error> {
    let channel = Channel::builder(&format!("https://{addr}"))?
        .tls(tls)
        .connect()
        .await?;
    Ok(ProbeClient::new(channel))
}

#[tokio::test]
async fn a_call_over_tls_and_what_the_handler_sees() {
    let pki = TestPki::new("tls test CA");
    let addr = tls_server(ServerTlsConfig::new(pki.server(SERVER_NAMES).identity())).await;
    let client = connect(addr, ClientTlsConfig::new().ca_certificate(pki.ca()))
        .await
        .unwrap();
    let reply = echo(&client).await.unwrap();
    assert_eq!(reply.message, "over tls");
    assert!(reply.tls);
    assert!(reply.peer_certificate.is_empty(), "no client certificate");
    // An IP address is not sent as SNI.
    assert_eq!(reply.tls_server_name, "");

    // By name, with the authority override: SNI, the name checked and :authority.
    let channel = Channel::builder(&format!("https://{addr}"))
        .unwrap()
        .tls(ClientTlsConfig::new().ca_certificate(pki.ca()))
        .authority_override("foo.test.google.fr")
        .unwrap()
        .connect()
        .await
        .unwrap();
    let reply = echo(&ProbeClient::new(channel)).await.unwrap();
    assert_eq!(reply.tls_server_name, "foo.test.google.fr");
}

#[tokio::test]
async fn mutual_tls_required_and_optional() {
    let pki = TestPki::new("mtls test CA");
    let client_leaf = pki.client("ada");
    let identity = pki.server(SERVER_NAMES).identity();
    let required = tls_server(ServerTlsConfig::new(identity.clone()).client_ca(pki.ca())).await;
    let optional = tls_server(
        ServerTlsConfig::new(identity)
            .client_ca(pki.ca())
            .client_auth(ClientAuth::Optional),
    )
    .await;
    let with_cert = ClientTlsConfig::new()
        .ca_certificate(pki.ca())
        .identity(client_leaf.identity());
    let without_cert = ClientTlsConfig::new().ca_certificate(pki.ca());

    let reply = echo(&connect(required, with_cert.clone()).await.unwrap())
        .await
        .unwrap();
    let presented = client_leaf.identity().certificates()[0].to_vec();
    assert_eq!(
        reply.peer_certificate, presented,
        "the handler sees the client's certificate"
    );

    let refused = connect(required, without_cert.clone()).await.unwrap_err();
    let message = refused.to_string();
    assert!(
        message.contains(&required.to_string())
            && message.contains("requires a client certificate"),
        "{message}"
    );

    // A certificate from another authority is refused too.
    let stranger = TestPki::new("another CA").client("mallory");
    let refused = connect(required, without_cert.clone().identity(stranger.identity()))
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("the server refused this client's certificate"),
        "{refused}"
    );

    let anonymous = echo(&connect(optional, without_cert).await.unwrap())
        .await
        .unwrap();
    assert!(anonymous.peer_certificate.is_empty());
    let known = echo(&connect(optional, with_cert).await.unwrap())
        .await
        .unwrap();
    assert_eq!(known.peer_certificate, presented);
}

/// Connects and returns the error's message, which must name the address.
async fn failure(addr: SocketAddr, tls: ClientTlsConfig) -> String {
    let message = connect(addr, tls)
        .await
        .expect_err("the connection should fail")
        .to_string();
    assert!(
        message.contains(&addr.to_string()),
        "the message does not name the address: {message}"
    );
    message
}

#[tokio::test]
async fn certificate_mistakes_are_explained() {
    let pki = TestPki::new("errors test CA");
    let good = tls_server(ServerTlsConfig::new(pki.server(SERVER_NAMES).identity())).await;
    let expired = tls_server(ServerTlsConfig::new(
        pki.expired_server(SERVER_NAMES).identity(),
    ))
    .await;
    let elsewhere = tls_server(ServerTlsConfig::new(
        pki.server(&["api.example.com"]).identity(),
    ))
    .await;

    let unknown = failure(
        good,
        ClientTlsConfig::new().ca_certificate(TestPki::new("x").ca()),
    )
    .await;
    assert!(
        unknown.contains("TLS handshake") && unknown.contains("unknown issuer"),
        "{unknown}"
    );
    let old = failure(expired, ClientTlsConfig::new().ca_certificate(pki.ca())).await;
    assert!(old.contains("has expired: valid until 2020-01-01"), "{old}");
    let mismatch = failure(elsewhere, ClientTlsConfig::new().ca_certificate(pki.ca())).await;
    assert!(
        mismatch.contains("is not valid for \"127.0.0.1\"") && mismatch.contains("api.example.com"),
        "{mismatch}"
    );

    // A lazy channel fails the call instead, with the same words.
    let channel = Channel::builder(&format!("https://{expired}"))
        .unwrap()
        .tls(ClientTlsConfig::new().ca_certificate(pki.ca()))
        .lazy();
    let status = echo(&ProbeClient::new(channel)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert!(status.message().contains("has expired"), "{status}");
}

#[tokio::test]
async fn cleartext_and_tls_mixed_up_are_explained() {
    let pki = TestPki::new("mixup test CA");
    let tls_port = tls_server(ServerTlsConfig::new(pki.server(SERVER_NAMES).identity())).await;
    let cleartext_port = serve(Server::builder()).await;

    let plain = Channel::connect(&format!("http://{tls_port}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        plain.contains(&tls_port.to_string()) && plain.contains("requires TLS"),
        "{plain}"
    );
    let secure = failure(
        cleartext_port,
        ClientTlsConfig::new().ca_certificate(pki.ca()),
    )
    .await;
    assert!(secure.contains("did not answer in TLS"), "{secure}");

    // The TLS server still serves TLS clients after both.
    let client = connect(tls_port, ClientTlsConfig::new().ca_certificate(pki.ca()))
        .await
        .unwrap();
    echo(&client).await.unwrap();
}

#[tokio::test]
async fn a_client_that_does_not_offer_h2_is_refused() {
    use tokio::io::AsyncReadExt;
    let pki = TestPki::new("alpn test CA");
    let addr = tls_server(ServerTlsConfig::new(pki.server(SERVER_NAMES).identity())).await;
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls_pki_types::CertificateDer::pem_slice_iter(pki.ca_pem().as_bytes()) {
        roots.add(der.unwrap()).unwrap();
    }
    let connect = |alpn: Vec<Vec<u8>>| {
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
        config.alpn_protocols = alpn;
        async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
            tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
        }
    };
    use rustls_pki_types::pem::PemObject;
    // Offering only HTTP/1.1: rustls refuses in the handshake (no_application_protocol).
    assert!(connect(vec![b"http/1.1".to_vec()]).await.is_err());
    // Offering nothing: the handshake completes, then the server closes without a byte.
    let mut stream = connect(vec![]).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
}

/// Sends `message` on a bidi call and waits for its echo.
async fn chat_once(
    requests: &tokio::sync::mpsc::Sender<EchoRequest>,
    replies: &mut tern::Streaming<EchoReply>,
    message: &str,
) {
    requests
        .send(EchoRequest {
            message: message.into(),
            ..EchoRequest::default()
        })
        .await
        .unwrap();
    let reply = replies.message().await.unwrap().expect("a reply");
    assert_eq!(reply.message, message);
}

struct Requests(tokio::sync::mpsc::Receiver<EchoRequest>);

impl Stream for Requests {
    type Item = EchoRequest;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<EchoRequest>> {
        self.0.poll_recv(cx)
    }
}

#[tokio::test]
async fn renewed_certificate_files_serve_new_connections_while_old_calls_go_on() {
    let dir = std::env::temp_dir().join(format!("tern-rotation-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (old_ca, new_ca) = (TestPki::new("old CA"), TestPki::new("new CA"));
    let (cert, key) = old_ca.server(SERVER_NAMES).write(&dir, "server");
    let addr = tls_server(ServerTlsConfig::from_pem_files(&cert, &key).unwrap()).await;

    // A streaming call on a connection made with the old certificate.
    let old_client = connect(addr, ClientTlsConfig::new().ca_certificate(old_ca.ca()))
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut replies = old_client
        .chat(Request::new(Requests(rx)))
        .await
        .unwrap()
        .into_inner();
    chat_once(&tx, &mut replies, "before").await;

    // Renewal writes new files, from another CA, and a half-written state comes first.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nMII").unwrap();
    let still_old = connect(addr, ClientTlsConfig::new().ca_certificate(old_ca.ca())).await;
    assert!(
        still_old.is_ok(),
        "a broken file keeps the last good certificate"
    );
    new_ca.server(SERVER_NAMES).write(&dir, "server");

    let new_client = connect(addr, ClientTlsConfig::new().ca_certificate(new_ca.ca()))
        .await
        .expect("a new connection gets the renewed certificate");
    echo(&new_client).await.unwrap();
    let refused = failure(addr, ClientTlsConfig::new().ca_certificate(old_ca.ca())).await;
    assert!(refused.contains("unknown issuer"), "{refused}");

    // The call on the old connection runs to its end.
    chat_once(&tx, &mut replies, "after").await;
    drop(tx);
    assert!(replies.message().await.unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn an_identity_handle_swaps_the_certificate_for_new_connections() {
    let (old_ca, new_ca) = (TestPki::new("old CA"), TestPki::new("new CA"));
    let handle = IdentityHandle::new(old_ca.server(SERVER_NAMES).identity());
    let addr = tls_server(ServerTlsConfig::from_handle(handle.clone())).await;
    let old_client = connect(addr, ClientTlsConfig::new().ca_certificate(old_ca.ca()))
        .await
        .unwrap();
    handle.set(new_ca.server(SERVER_NAMES).identity());
    let new_client = connect(addr, ClientTlsConfig::new().ca_certificate(new_ca.ca()))
        .await
        .unwrap();
    echo(&new_client).await.unwrap();
    echo(&old_client).await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn tls_over_a_unix_socket() {
    let pki = TestPki::new("unix test CA");
    let path = std::env::temp_dir().join(format!("tern-tls-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = Server::builder()
        .tls(ServerTlsConfig::new(pki.server(SERVER_NAMES).identity()))
        .unwrap()
        .add_service(ProbeServer::new(ProbeService));
    let serving = path.clone();
    tokio::spawn(async move { server.serve_unix(serving, std::future::pending()).await });
    for _ in 0..100 {
        if path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let channel = Channel::builder(&format!("unix:{}", path.display()))
        .unwrap()
        .tls(ClientTlsConfig::new().ca_certificate(pki.ca()))
        .connect()
        .await
        .unwrap();
    let reply = echo(&ProbeClient::new(channel)).await.unwrap();
    assert!(reply.tls);
    assert_eq!(reply.tls_server_name, "localhost");
    let _ = std::fs::remove_file(&path);
}
