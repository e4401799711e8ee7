//! The tutorial's Python programs against Tern's: the grpcio client calls `hello-server`, and
//! `hello-client` calls the grpcio server. Both must print `hello world 18`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

#[path = "../../../tests/support/python.rs"]
mod support;
use support::python;

fn python_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/python"))
}

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

/// Starts a server that prints `listening on HOST:PORT` once it is ready.
fn start(command: &mut Command) -> Server {
    let mut child = command
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server");
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

fn run(command: &mut Command) -> String {
    let output = command.output().expect("run the client");
    assert!(
        output.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

#[test]
fn python_client_calls_tern_server() {
    let server =
        start(Command::new(env!("CARGO_BIN_EXE_hello-server")).args(["--addr", "127.0.0.1:0"]));
    let reply = run(Command::new(python())
        .arg(python_dir().join("greeter_client.py"))
        .args(["--target", &format!("127.0.0.1:{}", server.port)]));
    assert_eq!(reply, "hello world 18\n");
}

#[test]
fn tern_client_calls_python_server() {
    let server = start(
        Command::new(python())
            .arg("-u")
            .arg(python_dir().join("greeter_server.py"))
            .args(["--addr", "127.0.0.1:0"]),
    );
    let reply = run(Command::new(env!("CARGO_BIN_EXE_hello-client"))
        .args(["--addr", &format!("http://127.0.0.1:{}", server.port)]));
    assert_eq!(reply, "hello world 18\n");
}

#[test]
fn tern_client_calls_tern_server() {
    let server =
        start(Command::new(env!("CARGO_BIN_EXE_hello-server")).args(["--addr", "127.0.0.1:0"]));
    let reply = run(Command::new(env!("CARGO_BIN_EXE_hello-client")).args([
        "--addr",
        &format!("http://127.0.0.1:{}", server.port),
        "--name",
        "ada",
        "--age",
        "36",
    ]));
    assert_eq!(reply, "hello ada 36\n");
}
