//! `tern` over TLS: the scheme rule (https:// or any TLS option means TLS), `--cacert`,
//! `--cert`/`--key` for mutual TLS, `--servername`, `--insecure`, and the errors for mistakes.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tern::services::reflection::Reflection;
use tern::tls::{Certificate, ServerTlsConfig};
use tern_tests::pki::{TestPki, SERVER_NAMES};

/// The hello service with reflection over TLS (mutual when `client_ca`), on a free port.
async fn serve(pki: &TestPki, mutual: bool) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut tls = ServerTlsConfig::new(pki.server(SERVER_NAMES).identity());
    if mutual {
        tls = tls.client_ca(Certificate::from_pem(pki.ca_pem()).unwrap());
    }
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
    port
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn tern(args: &[&str]) -> Output {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn certs(name: &str) -> (TestPki, PathBuf) {
    let pki = TestPki::new("cli test CA");
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    pki.write_standard_set(&dir);
    (pki, dir)
}

fn file(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

const SAY: [&str; 4] = [
    "hello.Hello/SayHello",
    "-d",
    r#"{"name":"tls","age":1}"#,
    "--timeout=10s",
];

#[tokio::test]
async fn calls_over_tls_by_scheme_or_by_option() {
    let (pki, dir) = certs("tern-cli-tls");
    let port = serve(&pki, false).await;
    let ca = file(&dir, "ca.pem");

    let https = format!("https://localhost:{port}");
    let out = tern(&[&["call", &https, "--cacert", &ca], &SAY[..]].concat()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("hello tls 1"), "{}", out.stdout);

    // host:port with a TLS option is TLS; by IP, with the name its certificate has.
    let bare = format!("127.0.0.1:{port}");
    let args = [
        "call",
        &bare,
        "--cacert",
        &ca,
        "--servername",
        "foo.test.google.fr",
    ];
    let out = tern(&[&args[..], &SAY[..]].concat()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Reflection-based commands too, with options before the subcommand.
    let out = tern(&["--cacert", &ca, "list", &https]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("hello.Hello"), "{}", out.stdout);

    // Without the CA the system's roots do not know the server: UNAVAILABLE, saying why.
    let out = tern(&[&["call", &https], &SAY[..]].concat()).await;
    assert_eq!(out.code, 14, "{}", out.stderr);
    assert!(out.stderr.contains("unknown issuer"), "{}", out.stderr);
    // --insecure skips verification.
    let out = tern(&[&["call", &https, "--insecure"], &SAY[..]].concat()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Cleartext to a TLS port says to use TLS.
    let http = format!("http://127.0.0.1:{port}");
    let out = tern(&[&["call", &http], &SAY[..]].concat()).await;
    assert_eq!(out.code, 14);
    assert!(out.stderr.contains("requires TLS"), "{}", out.stderr);
    // And http:// with a TLS option is a contradiction.
    let out = tern(&[&["call", &http, "--cacert", &ca], &SAY[..]].concat()).await;
    assert_eq!(out.code, 64);
    assert!(out.stderr.contains("cleartext"), "{}", out.stderr);

    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn mutual_tls_and_bad_files() {
    let (pki, dir) = certs("tern-cli-mtls");
    let port = serve(&pki, true).await;
    let https = format!("https://localhost:{port}");
    let (ca, cert, key) = (
        file(&dir, "ca.pem"),
        file(&dir, "client.pem"),
        file(&dir, "client.key"),
    );
    let args = [
        "call", &https, "--cacert", &ca, "--cert", &cert, "--key", &key,
    ];
    let out = tern(&[&args[..], &SAY[..]].concat()).await;
    assert_eq!(out.code, 0, "{}", out.stderr);

    let out = tern(&[&["call", &https, "--cacert", &ca], &SAY[..]].concat()).await;
    assert_eq!(out.code, 14);
    assert!(out.stderr.contains("client certificate"), "{}", out.stderr);

    // Health and bench take the same options.
    let out = tern(&[
        "health", &https, "--cacert", &ca, "--cert", &cert, "--key", &key,
    ])
    .await;
    assert_ne!(out.code, 2, "connected: {}", out.stderr);
    let args = [
        "bench",
        &https,
        "--cacert",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--call",
        "hello.Hello/SayHello",
        "-n",
        "50",
        "--format",
        "json",
    ];
    let out = tern(&args).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("\"ok\": 50") || out.stdout.contains("\"ok\":50"),
        "{}",
        out.stdout
    );

    let missing = file(&dir, "nope.pem");
    let out = tern(&[&["call", &https, "--cacert", &missing], &SAY[..]].concat()).await;
    assert_eq!(out.code, 64);
    assert!(out.stderr.contains("nope.pem"), "{}", out.stderr);
    // --cert without --key is refused by the argument parser.
    let out = tern(&["call", &https, "--cert", &cert, "hello.Hello/SayHello"]).await;
    assert_eq!(out.code, 2);

    let _ = std::fs::remove_dir_all(dir);
}
