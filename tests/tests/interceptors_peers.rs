//! Server interceptors seen from grpcio (Python, C-core) over TCP: a refused call arrives as the
//! interceptor's status with the headers it added; an accepted one reaches the handler with the
//! metadata the interceptor rewrote, and grpcio receives the interceptor's response headers and
//! the trailer its observer added at the end, counting the messages of unary and streaming calls.

use tern::interceptor::{CallObserver, IncomingCall, Message, ServerInterceptor};
use tern::{Metadata, Status};
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::{python, ProbeService};

/// Requires `x-tenant`, rewrites `x-probe` (echoed back by the handler), adds a response header,
/// and counts the call's messages into an `x-observed` trailer.
struct Tenancy;

struct Counts {
    requests: usize,
    responses: usize,
}

impl CallObserver for Counts {
    fn on_request(&mut self, _: &Message<'_>) {
        self.requests += 1;
    }

    fn on_response(&mut self, _: &Message<'_>) {
        self.responses += 1;
    }

    fn on_finish(&mut self, _: &Status, trailers: &mut Metadata) {
        let counts = format!("requests={} responses={}", self.requests, self.responses);
        let _ = trailers.insert("x-observed", &counts);
    }
}

impl ServerInterceptor for Tenancy {
    type Observer = Counts;

    async fn intercept(&self, call: &mut IncomingCall<'_>) -> Result<Counts, Status> {
        call.response_headers_mut()
            .insert("x-checked-by", "tenancy")?;
        let counts = Counts {
            requests: 0,
            responses: 0,
        };
        let Some(tenant) = call.metadata().get("x-tenant").map(str::to_owned) else {
            return Err(Status::unauthenticated("no tenant"));
        };
        call.metadata_mut()
            .insert("x-probe", &format!("tenant {tenant}"))?;
        Ok(counts)
    }
}

fn field<'a>(line: &'a serde_json::Value, path: &[&str]) -> &'a str {
    let mut value = line;
    for key in path {
        value = &value[*key];
    }
    value.as_str().unwrap_or_default()
}

#[tokio::test]
async fn grpcio_sees_what_server_interceptors_did() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .intercept(Tenancy)
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending()),
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/intercepted_client.py");
    let output = tokio::process::Command::new(python())
        .arg(script)
        .arg("--target")
        .arg(addr.to_string())
        .output()
        .await
        .expect("run the grpcio driver");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "grpcio driver failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");

    // Refused: the status, and the header added before refusing (a Trailers-Only response,
    // which grpcio reports as trailing metadata).
    let refused = &lines[0];
    assert_eq!(field(refused, &["code"]), "UNAUTHENTICATED", "{refused}");
    assert_eq!(field(refused, &["details"]), "no tenant");
    assert_eq!(field(refused, &["trailing", "x-checked-by"]), "tenancy");

    // Accepted: the handler saw the rewritten metadata; grpcio got the interceptor's header
    // beside the handler's, and the observer's trailer beside the handler's.
    let echo = &lines[1];
    assert_eq!(field(echo, &["code"]), "OK", "{echo}");
    assert_eq!(field(echo, &["message"]), "hi");
    assert_eq!(field(echo, &["probe_header"]), "tenant acme");
    assert_eq!(field(echo, &["initial", "x-checked-by"]), "tenancy");
    assert_eq!(field(echo, &["initial", "x-initial"]), "here");
    assert_eq!(field(echo, &["trailing", "x-trailing"]), "there");
    assert_eq!(
        field(echo, &["trailing", "x-observed"]),
        "requests=1 responses=1"
    );

    // Server streaming: every response counted.
    let count = &lines[2];
    assert_eq!(field(count, &["code"]), "OK", "{count}");
    assert_eq!(count["messages"], serde_json::json!(["0", "1", "2"]));
    assert_eq!(field(count, &["initial", "x-checked-by"]), "tenancy");
    assert_eq!(
        field(count, &["trailing", "x-observed"]),
        "requests=1 responses=3"
    );
}
