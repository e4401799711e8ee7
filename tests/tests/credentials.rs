//! Call credentials end to end: a channel's and a call's metadata reach the server over TLS,
//! are refused over cleartext unless allowed, a refreshed token replaces an expiring one, and a
//! failing source fails the call with the status gRFC A54 gives it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tern::credentials::{
    BearerToken, CallCredentials, CallInfo, Credentials, MetadataFuture, Token,
};
use tern::tls::{ClientTlsConfig, ServerTlsConfig};
use tern::{Channel, Code, Metadata, Request, Server, Status};
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

/// A TLS server and a builder for channels that trust it.
async fn tls_setup() -> (SocketAddr, ClientTlsConfig) {
    let pki = TestPki::new("credentials test CA");
    let config = ServerTlsConfig::new(pki.server(SERVER_NAMES).identity());
    let addr = serve(Server::builder().tls(config).unwrap()).await;
    (addr, ClientTlsConfig::new().ca_certificate(pki.ca()))
}

async fn echo(client: &ProbeClient, request: Request<EchoRequest>) -> Result<EchoReply, Status> {
    client.echo(request).await.map(tern::Response::into_inner)
}

fn plain() -> Request<EchoRequest> {
    Request::new(EchoRequest {
        message: "hi".into(),
        ..EchoRequest::default()
    })
}

#[tokio::test]
async fn channel_and_call_credentials_reach_the_server_over_tls() {
    let (addr, tls) = tls_setup().await;
    let channel = Channel::builder(&format!("https://{addr}"))
        .unwrap()
        .tls(tls)
        .call_credentials(Credentials::bearer("channel-token").unwrap())
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    let reply = echo(&client, plain()).await.unwrap();
    assert_eq!(reply.authorization, ["Bearer channel-token"]);

    // A call's own credentials come after the channel's.
    let mut request = plain();
    let mut key = Metadata::new();
    key.insert("authorization", "ApiKey k-1").unwrap();
    request.set_credentials(Credentials::from_metadata(key));
    let reply = echo(&client, request).await.unwrap();
    assert_eq!(reply.authorization, ["Bearer channel-token", "ApiKey k-1"]);
}

#[tokio::test]
async fn credentials_are_not_sent_over_cleartext_unless_allowed() {
    let addr = serve(Server::builder()).await;
    let channel = Channel::builder(&format!("http://{addr}"))
        .unwrap()
        .call_credentials(Credentials::bearer("secret").unwrap())
        .connect()
        .await
        .unwrap();
    let refused = echo(&ProbeClient::new(channel.clone()), plain())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused.message().contains("cleartext") && refused.message().contains(&addr.to_string()),
        "{refused}"
    );

    // The same on a call of a channel without credentials.
    let bare = ProbeClient::new(Channel::connect(&format!("http://{addr}")).await.unwrap());
    let mut request = plain();
    request.set_credentials(Credentials::bearer("secret").unwrap());
    assert_eq!(
        echo(&bare, request).await.unwrap_err().code(),
        Code::Unauthenticated
    );

    // Allowed explicitly, for a local sidecar.
    let mut request = plain();
    request.set_credentials(Credentials::bearer("local").unwrap().allow_cleartext());
    let reply = echo(&bare, request).await.unwrap();
    assert_eq!(reply.authorization, ["Bearer local"]);
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_and_calls_share_the_fetch() {
    let (addr, tls) = tls_setup().await;
    let fetches = Arc::new(AtomicU32::new(0));
    let counter = fetches.clone();
    let token = BearerToken::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            // Slow, so that concurrent first calls all wait on this one fetch.
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, Status>(Token::new(format!("token-{n}")).expires_in(Duration::from_secs(600)))
        }
    })
    .refresh_before(Duration::from_secs(598));
    let channel = Channel::builder(&format!("https://{addr}"))
        .unwrap()
        .tls(tls)
        .call_credentials(Credentials::new(token))
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { echo(&client, plain()).await })
        })
        .collect();
    for call in calls {
        let reply = call.await.unwrap().unwrap();
        assert_eq!(reply.authorization, ["Bearer token-1"]);
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    // The token enters its refresh margin 2 s after it was fetched.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reply = echo(&client, plain()).await.unwrap();
    assert_eq!(reply.authorization, ["Bearer token-2"]);
}

/// Credentials that fail as they are told.
struct Failing(fn() -> tern::credentials::BoxError);

impl CallCredentials for Failing {
    fn metadata(&self, _call: CallInfo) -> MetadataFuture<'_> {
        let error = (self.0)();
        Box::pin(async move { Err(error) })
    }
}

#[tokio::test]
async fn a_failing_source_fails_the_call_as_grfc_a54_says() {
    let (addr, tls) = tls_setup().await;
    let channel = Channel::builder(&format!("https://{addr}"))
        .unwrap()
        .tls(tls)
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    let cases: [(fn() -> tern::credentials::BoxError, Code); 3] = [
        (
            || Box::new(std::io::Error::other("metadata server unreachable")),
            Code::Unavailable,
        ),
        (
            || Box::new(Status::permission_denied("token revoked")),
            Code::PermissionDenied,
        ),
        // Codes only a server may give become INTERNAL.
        (
            || Box::new(Status::not_found("no key file")),
            Code::Internal,
        ),
    ];
    for (error, code) in cases {
        let mut request = plain();
        request.set_credentials(Credentials::new(Failing(error)));
        let status = echo(&client, request).await.unwrap_err();
        assert_eq!(status.code(), code, "{status}");
        assert!(
            status.message().starts_with("call credentials failed"),
            "{status}"
        );
    }
    // The channel is still good.
    echo(&client, plain()).await.unwrap();
}

#[tokio::test]
async fn credentials_see_the_method_and_run_within_the_deadline() {
    let (addr, tls) = tls_setup().await;
    struct Slow;
    impl CallCredentials for Slow {
        fn metadata(&self, call: CallInfo) -> MetadataFuture<'_> {
            Box::pin(async move {
                assert_eq!(call.method(), "/tern.probe.Probe/Echo");
                assert_eq!(call.service(), "tern.probe.Probe");
                assert!(call.is_secure());
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Metadata::new())
            })
        }
    }
    let channel = Channel::builder(&format!("https://{addr}"))
        .unwrap()
        .tls(tls)
        .call_credentials(Credentials::new(Slow))
        .connect()
        .await
        .unwrap();
    let mut request = plain();
    request.set_timeout(Duration::from_millis(200));
    let status = echo(&ProbeClient::new(channel), request).await.unwrap_err();
    assert_eq!(status.code(), Code::DeadlineExceeded);
}
