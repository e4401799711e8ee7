//! Server reflection: grpcurl (the tool people reach for first) lists, describes and calls the
//! tutorial's server through it, and both protocol versions answer Tern's own client.

use tern::services::reflection::v1::server_reflection_client::ServerReflectionClient as V1Client;
use tern::services::reflection::v1::server_reflection_request::MessageRequest;
use tern::services::reflection::v1::server_reflection_response::MessageResponse;
use tern::services::reflection::v1::ServerReflectionRequest;
use tern::services::reflection::v1alpha;
use tern::services::reflection::Reflection;

async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reflection = Reflection::new()
        .register(hello::FILE_DESCRIPTOR_SET)
        .unwrap();
    tokio::spawn(
        tern::Server::builder()
            .add_service(hello::hello::hello_server::HelloServer::new(hello::Greeter))
            .with_reflection(reflection)
            .serve_listener(listener, std::future::pending()),
    );
    addr
}

fn grpcurl() -> std::path::PathBuf {
    let dir = std::env::var_os("TERN_PEERS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/.peers/bin")
        });
    let path = dir.join("grpcurl");
    assert!(
        path.exists(),
        "no grpcurl at {}: run interop/peers/install.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

async fn run_grpcurl(args: &[&str]) -> String {
    let output = tokio::process::Command::new(grpcurl())
        .args(args)
        .output()
        .await
        .expect("run grpcurl");
    assert!(
        output.status.success(),
        "grpcurl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn grpcurl_lists_describes_and_calls_through_reflection() {
    let addr = serve().await.to_string();
    let list = run_grpcurl(&["-plaintext", &addr, "list"]).await;
    let services: Vec<&str> = list.lines().collect();
    assert_eq!(
        services,
        [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "hello.Hello"
        ]
    );
    let methods = run_grpcurl(&["-plaintext", &addr, "list", "hello.Hello"]).await;
    assert_eq!(methods.trim(), "hello.Hello.SayHello");
    let service = run_grpcurl(&["-plaintext", &addr, "describe", "hello.Hello"]).await;
    assert!(
        service.contains("rpc SayHello ( .hello.HelloRequest ) returns ( .hello.HelloReply );"),
        "{service}"
    );
    let message = run_grpcurl(&["-plaintext", &addr, "describe", "hello.HelloRequest"]).await;
    assert!(message.contains("int32 age = 2;"), "{message}");
    let reply = run_grpcurl(&[
        "-plaintext",
        "-d",
        r#"{"name":"world","age":18}"#,
        &addr,
        "hello.Hello/SayHello",
    ])
    .await;
    assert!(reply.contains(r#""message": "hello world 18""#), "{reply}");
}

/// grpcurl over TLS and mutual TLS (`-cacert`, `-cert`/`-key`, `-servername`), the way a person
/// debugs a deployed server.
#[tokio::test]
async fn grpcurl_over_tls_and_mutual_tls() {
    use tern::tls::{Certificate, ServerTlsConfig};
    use tern_tests::pki::{TestPki, SERVER_NAMES};
    let pki = TestPki::new("grpcurl test CA");
    let dir = std::env::temp_dir().join(format!("grpcurl-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    pki.write_standard_set(&dir);
    let file = |name: &str| dir.join(name).display().to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let tls = ServerTlsConfig::new(pki.server(SERVER_NAMES).identity())
        .client_ca(Certificate::from_pem(pki.ca_pem()).unwrap());
    let reflection = Reflection::new()
        .register(hello::FILE_DESCRIPTOR_SET)
        .unwrap();
    tokio::spawn(
        tern::Server::builder()
            .tls(tls)
            .unwrap()
            .add_service(hello::hello::hello_server::HelloServer::new(hello::Greeter))
            .with_reflection(reflection)
            .serve_listener(listener, std::future::pending()),
    );
    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let tls_args = ["-cacert", &ca, "-cert", &cert, "-key", &key];
    let list = run_grpcurl(&[&tls_args[..], &[&addr, "list"]].concat()).await;
    assert!(list.lines().any(|l| l == "hello.Hello"), "{list}");
    let with_name = [&tls_args[..], &["-servername", "foo.test.google.fr"]].concat();
    let reply = run_grpcurl(
        &[
            &with_name[..],
            &[
                "-d",
                r#"{"name":"tls","age":3}"#,
                &addr,
                "hello.Hello/SayHello",
            ],
        ]
        .concat(),
    )
    .await;
    assert!(reply.contains(r#""message": "hello tls 3""#), "{reply}");

    // Without a client certificate the server refuses. (grpcurl's blocking dial retries until
    // its connect timeout and then reports only that.)
    let output = tokio::process::Command::new(grpcurl())
        .args(["-connect-timeout", "3", "-cacert", &ca, &addr, "list"])
        .output()
        .await
        .unwrap();
    assert!(
        !output.status.success(),
        "listed without a client certificate"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn both_protocol_versions_answer() {
    let addr = serve().await;
    let target = format!("http://{addr}");

    // v1: a symbol's file, and a clear error for an unknown one.
    let v1 = V1Client::connect(&target).await.unwrap();
    let questions = [
        MessageRequest::FileContainingSymbol("hello.Hello.SayHello".into()),
        MessageRequest::FileContainingSymbol("no.Such".into()),
        MessageRequest::FileByFilename("hello.proto".into()),
    ]
    .map(|q| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(q),
    });
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    for q in questions {
        tx.send(q).await.unwrap();
    }
    drop(tx);
    let mut answers = v1
        .server_reflection_info(Feed(rx))
        .await
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(answer) = answers.message().await.unwrap() {
        got.push(answer.message_response.unwrap());
    }
    assert_eq!(got.len(), 3);
    assert!(
        matches!(&got[0], MessageResponse::FileDescriptorResponse(f) if f.file_descriptor_proto.len() == 1)
    );
    assert!(
        matches!(&got[1], MessageResponse::ErrorResponse(e) if e.error_code == tern::Code::NotFound as i32)
    );
    assert!(matches!(
        &got[2],
        MessageResponse::FileDescriptorResponse(_)
    ));

    // v1alpha, as older tools ask.
    let old = v1alpha::server_reflection_client::ServerReflectionClient::connect(&target)
        .await
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tx.send(v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    })
    .await
    .unwrap();
    drop(tx);
    let mut answers = old
        .server_reflection_info(Feed(rx))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    match answer.message_response.unwrap() {
        v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list) => {
            let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
            assert!(names.contains(&"hello.Hello".to_owned()), "{names:?}");
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

/// A request stream fed through a channel.
struct Feed<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for Feed<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}
