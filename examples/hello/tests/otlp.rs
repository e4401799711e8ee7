//! `hello-server` and `hello-client` with `OTEL_EXPORTER_OTLP_ENDPOINT` set export gRFC A66
//! metrics over OTLP/gRPC, and a real OTLP receiver — grpcio serving the OpenTelemetry project's
//! generated MetricsService (tests/py/otlp_receiver.py) — receives them: the server's count and
//! durations for `hello.Hello/SayHello`, and each client's attempt and call.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The first line of a child's stdout, which says `listening on ... PORT`.
fn port_of(line: &str) -> u16 {
    line.trim()
        .rsplit([':', ' '])
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("expected 'listening on ... PORT', got {line:?}"))
}

/// Every metric in the exports whose resource has `service.name` = `service`: (name, unit,
/// data points), as the receiver printed them (protobuf's JSON mapping).
fn metrics_of<'a>(exports: &'a [Value], service: &str) -> Vec<Metric<'a>> {
    let mut out = Vec::new();
    for export in exports {
        for resource in export["resourceMetrics"].as_array().into_iter().flatten() {
            let named = resource["resource"]["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| a["key"] == "service.name" && a["value"]["stringValue"] == service);
            if !named {
                continue;
            }
            for scope in resource["scopeMetrics"].as_array().into_iter().flatten() {
                for metric in scope["metrics"].as_array().into_iter().flatten() {
                    let name = metric["name"].as_str().unwrap_or_default();
                    let unit = metric["unit"].as_str().unwrap_or_default();
                    let data = ["sum", "histogram"]
                        .iter()
                        .find_map(|kind| metric[kind]["dataPoints"].as_array())
                        .map(|points| points.iter().collect())
                        .unwrap_or_default();
                    out.push((name, unit, data));
                }
            }
        }
    }
    out
}

/// The metric `name` among `metrics`.
fn find<'a>(metrics: &[Metric<'a>], name: &str) -> Metric<'a> {
    metrics
        .iter()
        .find(|m| m.0 == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {metrics:#?}"))
}

/// A metric: its name, unit and data points.
type Metric<'a> = (&'a str, &'a str, Vec<&'a Value>);

/// The point's attribute `key`, as a string.
fn attribute<'a>(point: &'a Value, key: &str) -> &'a str {
    point["attributes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["key"] == key)
        .and_then(|a| a["value"]["stringValue"].as_str())
        .unwrap_or_default()
}

/// A count from the JSON mapping, where 64-bit integers are strings.
fn number(value: &Value) -> u64 {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_u64())
        .unwrap_or_default()
}

#[test]
fn hello_exports_a66_metrics_to_a_real_otlp_receiver() {
    let mut receiver = Command::new(tern_tests::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/py/otlp_receiver.py"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the OTLP receiver");
    let mut receiver_out = BufReader::new(receiver.stdout.take().unwrap());
    let mut line = String::new();
    receiver_out.read_line(&mut line).unwrap();
    let endpoint = format!("http://127.0.0.1:{}", port_of(&line));

    // Long intervals: each program exports once, as it shuts down, so the figures are final.
    let otel_env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "600000"),
    ];
    let mut server = Command::new(env!("CARGO_BIN_EXE_hello-server"))
        .args(["--addr", "127.0.0.1:0"])
        .envs(otel_env)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start hello-server");
    let mut server_line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut server_line)
        .unwrap();
    let target = format!("http://127.0.0.1:{}", port_of(&server_line));

    for name in ["ada", "grace"] {
        let output = Command::new(env!("CARGO_BIN_EXE_hello-client"))
            .args(["--addr", &target, "--name", name])
            .envs(otel_env)
            .output()
            .expect("run hello-client");
        assert!(output.status.success(), "{output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            format!("hello {name} 18")
        );
    }
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "hello-server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "hello-server exited with {status}");

    // Every export has arrived (each program waited for its own); stop the receiver.
    drop(receiver.stdin.take());
    let exports: Vec<Value> = receiver_out
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let _ = receiver.wait();
    std::io::stdout().flush().ok();

    let server_metrics = metrics_of(&exports, "hello-server");
    let (_, unit, points) = find(&server_metrics, "grpc.server.call.started");
    assert_eq!(unit, "{call}");
    let say_hello: Vec<_> = points
        .iter()
        .filter(|p| attribute(p, "grpc.method") == "hello.Hello/SayHello")
        .collect();
    assert_eq!(say_hello.len(), 1, "{points:?}");
    assert_eq!(number(&say_hello[0]["asInt"]), 2);
    let (_, unit, points) = find(&server_metrics, "grpc.server.call.duration");
    assert_eq!(unit, "s");
    let ok: Vec<_> = points
        .iter()
        .filter(|p| {
            attribute(p, "grpc.method") == "hello.Hello/SayHello"
                && attribute(p, "grpc.status") == "OK"
        })
        .collect();
    assert_eq!(ok.len(), 1, "{points:?}");
    assert_eq!(number(&ok[0]["count"]), 2);

    // Two clients, one export each, one call each.
    let client_metrics = metrics_of(&exports, "hello-client");
    let calls: Vec<&Value> = client_metrics
        .iter()
        .filter(|m| m.0 == "grpc.client.call.duration")
        .flat_map(|m| m.2.iter().copied())
        .collect();
    assert_eq!(calls.len(), 2, "{client_metrics:?}");
    for call in calls {
        assert_eq!(attribute(call, "grpc.method"), "hello.Hello/SayHello");
        assert_eq!(attribute(call, "grpc.target"), target);
        assert_eq!(attribute(call, "grpc.status"), "OK");
        assert_eq!(number(&call["count"]), 1);
    }
    let (_, unit, _) = find(&client_metrics, "grpc.client.attempt.started");
    assert_eq!(unit, "{attempt}");
}
