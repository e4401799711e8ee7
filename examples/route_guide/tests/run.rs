//! The route guide's programs, run as a person runs them: the client against the server prints
//! the expected answer of each of the four methods, and grpcurl (through reflection) gets the
//! same feature from the server.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

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

fn route_guide_server() -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_route-guide-server"))
        .args(["--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start route-guide-server");
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

#[test]
fn the_client_calls_each_method_of_the_server() {
    let server = route_guide_server();
    let output = Command::new(env!("CARGO_BIN_EXE_route-guide-client"))
        .args(["--addr", &format!("http://127.0.0.1:{}", server.port)])
        .output()
        .expect("run route-guide-client");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "route-guide-client failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let listed: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("ListFeatures: "))
        .collect();
    assert_eq!(
        listed,
        [
            "ListFeatures: Statue of Liberty, Liberty Island, NY at (40.6892, -74.0445)",
            "ListFeatures: One World Trade Center, New York, NY at (40.7127, -74.0134)",
            "ListFeatures: Brooklyn Bridge, New York, NY at (40.7061, -73.9969)",
            "ListFeatures: Flatiron Building, New York, NY at (40.7411, -73.9897)",
            "ListFeatures: Empire State Building, New York, NY at (40.7484, -73.9857)",
            "ListFeatures: Grand Central Terminal, New York, NY at (40.7527, -73.9772)",
        ]
    );
    assert_eq!(
        lines[..2],
        [
            "GetFeature: Empire State Building, New York, NY at (40.7484, -73.9857)",
            "GetFeature: no feature at (0.0000, 0.0000)",
        ]
    );
    let summary = lines
        .iter()
        .find(|l| l.starts_with("RecordRoute: "))
        .expect("a RecordRoute line");
    // Yankee Stadium to Coney Island past every landmark: about 36 km; the walk takes ~0.1 s.
    let metres: u32 = summary
        .split_whitespace()
        .nth(5)
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("no distance in {summary:?}"));
    assert!(
        summary.starts_with("RecordRoute: 12 points, 12 features, "),
        "{summary}"
    );
    assert!((30_000..45_000).contains(&metres), "{summary}");
    let chat: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("RouteChat: "))
        .collect();
    assert_eq!(
        chat,
        [
            "RouteChat: got \"first message\" at (40.6892, -74.0445)",
            "RouteChat: got \"second message\" at (40.7127, -74.0134)",
        ]
    );
}

#[test]
fn grpcurl_gets_a_feature_through_reflection() {
    let peers = std::env::var_os("TERN_PEERS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/.peers/bin")
        });
    let grpcurl = peers.join("grpcurl");
    assert!(
        grpcurl.exists(),
        "no grpcurl at {}: run interop/peers/install.sh (scripts/test.sh does)",
        grpcurl.display()
    );
    let server = route_guide_server();
    let output = Command::new(grpcurl)
        .args([
            "-plaintext",
            "-d",
            r#"{"latitude": 407484000, "longitude": -739857000}"#,
        ])
        .arg(format!("127.0.0.1:{}", server.port))
        .arg("routeguide.RouteGuide/GetFeature")
        .output()
        .expect("run grpcurl");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "grpcurl failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(r#""name": "Empire State Building, New York, NY""#),
        "{stdout}"
    );
    // A point off the planet is refused with a clear status, not a crash.
    let output = Command::new(peers.join("grpcurl"))
        .args([
            "-plaintext",
            "-d",
            r#"{"latitude": 1000000000, "longitude": 0}"#,
        ])
        .arg(format!("127.0.0.1:{}", server.port))
        .arg("routeguide.RouteGuide/GetFeature")
        .output()
        .expect("run grpcurl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("InvalidArgument"), "{stderr}");
    assert!(stderr.contains("not a point on Earth"), "{stderr}");
}
