//! The tutorial's programs over TLS: `hello-server --tls-cert --tls-key [--client-ca]` answers
//! `hello-client --ca [--cert --key]`, and the mistakes a person makes with the flags give a
//! message that says what is wrong, not a panic.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use tern_tests::pki::TestPki;

/// A server process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hello_server(args: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hello-server"))
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hello-server");
    let stdout = child.stdout.take().expect("server stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the server's first line");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("expected 'listening on HOST:PORT', got {line:?}"));
    Server { child, port }
}

fn hello_client(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hello-client"))
        .args(args)
        .output()
        .expect("run hello-client")
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn certs(name: &str) -> tempdir::Dir {
    let dir = tempdir::Dir::new(name);
    TestPki::new("hello test CA").write_standard_set(dir.path());
    dir
}

/// A directory removed when dropped (no crate for three lines).
mod tempdir {
    pub(crate) struct Dir(std::path::PathBuf);
    impl Dir {
        pub(crate) fn new(name: &str) -> Dir {
            let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create a temporary directory");
            Dir(dir)
        }
        pub(crate) fn path(&self) -> &std::path::Path {
            &self.0
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn tls_and_mutual_tls() {
    let dir = certs("hello-tls");
    let d = dir.path();
    let server = hello_server(&[
        "--tls-cert",
        &path(d, "server.pem"),
        "--tls-key",
        &path(d, "server.key"),
    ]);
    let target = format!("https://localhost:{}", server.port);
    let out = hello_client(&["--addr", &target, "--ca", &path(d, "ca.pem")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello world 18\n");

    // Without --ca the system's roots do not know the test CA.
    let out = hello_client(&["--addr", &target]);
    assert_eq!(out.status.code(), Some(14));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");

    // Mutual TLS: a client certificate is required.
    let mutual = hello_server(&[
        "--tls-cert",
        &path(d, "server.pem"),
        "--tls-key",
        &path(d, "server.key"),
        "--client-ca",
        &path(d, "ca.pem"),
    ]);
    let target = format!("https://localhost:{}", mutual.port);
    let out = hello_client(&[
        "--addr",
        &target,
        "--ca",
        &path(d, "ca.pem"),
        "--cert",
        &path(d, "client.pem"),
        "--key",
        &path(d, "client.key"),
        "--name",
        "ada",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello ada 18\n");
    let out = hello_client(&["--addr", &target, "--ca", &path(d, "ca.pem")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[test]
fn unusable_files_are_named() {
    let dir = certs("hello-tls-files");
    let d = dir.path();
    let missing = path(d, "missing.pem");
    let out = Command::new(env!("CARGO_BIN_EXE_hello-server"))
        .args(["--addr", "127.0.0.1:0", "--tls-cert", &missing])
        .args(["--tls-key", &path(d, "server.key")])
        .output()
        .expect("run hello-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing.pem"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // A key that is not the certificate's.
    let out = Command::new(env!("CARGO_BIN_EXE_hello-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--tls-cert",
            &path(d, "server.pem"),
        ])
        .args(["--tls-key", &path(d, "client.key")])
        .output()
        .expect("run hello-server");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("client.key"), "{stderr}");

    let out = hello_client(&["--addr", "https://127.0.0.1:1", "--ca", &missing]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.pem"));
}
