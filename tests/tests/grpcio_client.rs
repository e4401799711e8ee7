//! grpcio (Python, C-core) calling a Tern server: errors reach it with the right code and message,
//! and the server keeps serving after each.

use tern_tests::{python, start_probe_server};

/// Runs the grpcio driver on these cases; returns (case, code, details) per line.
async fn grpcio(addr: std::net::SocketAddr, cases: &[&str]) -> Vec<(String, String, String)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/probe_client.py");
    let output = tokio::process::Command::new(python())
        .arg(script)
        .arg("--target")
        .arg(addr.to_string())
        .args(cases)
        .output()
        .await
        .expect("run the grpcio driver");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "grpcio driver failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .map(|line| {
            let mut parts = line.splitn(3, '\t');
            let mut next = || parts.next().unwrap_or_default().to_owned();
            (next(), next(), next())
        })
        .collect()
}

#[tokio::test]
async fn grpcio_sees_each_error_and_the_server_keeps_serving() {
    let addr = start_probe_server().await;
    let results = grpcio(
        addr,
        &[
            "echo",
            "unknown_method",
            "echo",
            "unknown_service",
            "not_found_unicode",
            "panic",
            "echo",
            "oversized",
            "invalid_message",
            "echo",
        ],
    )
    .await;
    let expected = [
        ("echo", "OK", "ping"),
        (
            "unknown_method",
            "UNIMPLEMENTED",
            "unknown method NoSuchMethod for service tern.probe.Probe",
        ),
        ("echo", "OK", "ping"),
        (
            "unknown_service",
            "UNIMPLEMENTED",
            "unknown service tern.probe.NoSuchService",
        ),
        (
            "not_found_unicode",
            "NOT_FOUND",
            "introuvable: caf\u{e9} \u{263a} 100%",
        ),
        ("panic", "UNKNOWN", "handler panicked"),
        ("echo", "OK", "ping"),
        (
            "oversized",
            "RESOURCE_EXHAUSTED",
            "message of 2097157 bytes is larger than the limit of 1048576 bytes",
        ),
        ("invalid_message", "INTERNAL", ""),
        ("echo", "OK", "ping"),
    ];
    assert_eq!(results.len(), expected.len(), "{results:?}");
    for ((case, code, details), (want_case, want_code, want_details)) in
        results.iter().zip(expected)
    {
        assert_eq!(case, want_case);
        assert_eq!(code, want_code, "{case}: {details}");
        if case == "invalid_message" {
            assert!(details.starts_with("failed to decode message"), "{details}");
        } else {
            assert_eq!(details, want_details, "{case}");
        }
    }
}
