//! The `tern` binary against live servers: JSON in and out, streaming, metadata, deadlines,
//! exit codes for each kind of failure, health, and code generation.

use std::process::Stdio;

use tern::services::health::HealthReporter;
use tern::services::reflection::Reflection;
use tokio::io::AsyncWriteExt;

/// The probe and hello services with reflection and health, on a free port.
async fn serve() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let reflection = Reflection::new()
        .register(tern_tests::FILE_DESCRIPTOR_SET)
        .unwrap()
        .register(hello::FILE_DESCRIPTOR_SET)
        .unwrap();
    let health = HealthReporter::new();
    health.set_serving("hello.Hello");
    health.set_not_serving("tern.probe.Probe");
    tokio::spawn(
        tern::Server::builder()
            .add_service(tern_tests::probe::probe_server::ProbeServer::new(
                tern_tests::ProbeService,
            ))
            .add_service(hello::hello::hello_server::HelloServer::new(hello::Greeter))
            .with_health(health)
            .with_reflection(reflection)
            .serve_listener(listener, std::future::pending()),
    );
    addr.to_string()
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn tern(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tern"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).await.unwrap();
    }
    drop(input);
    let out = child.wait_with_output().await.unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

#[tokio::test]
async fn list_and_describe_through_reflection() {
    let addr = serve().await;
    let out = tern(&["list", &addr], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "hello.Hello",
            "tern.probe.Probe"
        ]
    );
    let out = tern(&["list", &addr, "tern.probe.Probe"], None).await;
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            "tern.probe.Probe.Echo",
            "tern.probe.Probe.Count",
            "tern.probe.Probe.Sum",
            "tern.probe.Probe.Chat"
        ]
    );
    let out = tern(&["describe", &addr, "tern.probe.Probe"], None).await;
    assert!(
        out.stdout.contains(
            "rpc Count ( .tern.probe.CountRequest ) returns ( stream .tern.probe.EchoReply );"
        ),
        "{}",
        out.stdout
    );
    let out = tern(&["describe", &addr, "tern.probe.EchoRequest"], None).await;
    assert!(out.stdout.contains("bytes payload = 6;"), "{}", out.stdout);
}

#[tokio::test]
async fn unary_call_json_in_and_out() {
    let addr = serve().await;
    let out = tern(
        &[
            "call",
            &addr,
            "hello.Hello/SayHello",
            "-d",
            r#"{"name":"world","age":18}"#,
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reply: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(reply, serde_json::json!({"message": "hello world 18"}));

    // From stdin, and from a file.
    let out = tern(
        &["call", &addr, "hello.Hello/SayHello", "-d", "-"],
        Some(r#"{"name":"stdin","age":1}"#),
    )
    .await;
    assert!(out.stdout.contains("hello stdin 1"), "{}", out.stderr);
    let file = std::env::temp_dir().join(format!("tern-cli-{}.json", std::process::id()));
    std::fs::write(&file, r#"{"name":"file","age":2}"#).unwrap();
    let at = format!("@{}", file.display());
    let out = tern(&["call", &addr, "hello.Hello/SayHello", "-d", &at], None).await;
    let _ = std::fs::remove_file(&file);
    assert!(out.stdout.contains("hello file 2"), "{}", out.stderr);
}

#[tokio::test]
async fn streaming_calls_take_and_print_json_lines() {
    let addr = serve().await;
    let out = tern(
        &[
            "call",
            &addr,
            "tern.probe.Probe/Count",
            "-d",
            r#"{"count":3}"#,
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [
            r#"{"message":"0"}"#,
            r#"{"message":"1"}"#,
            r#"{"message":"2"}"#
        ]
    );
    let out = tern(
        &[
            "call",
            &addr,
            "tern.probe.Probe/Sum",
            "-d",
            "{\"value\":1}\n{\"value\":2}\n{\"value\":39}",
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let reply: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(reply, serde_json::json!({"value": "42"}));
    let out = tern(
        &[
            "call",
            &addr,
            "tern.probe.Probe/Chat",
            "-d",
            r#"{"message":"a"} {"message":"b"}"#,
        ],
        None,
    )
    .await;
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        [r#"{"message":"a"}"#, r#"{"message":"b"}"#]
    );
}

#[tokio::test]
async fn metadata_status_and_deadline() {
    let addr = serve().await;
    let out = tern(
        &[
            "call",
            &addr,
            "tern.probe.Probe/Echo",
            "-H",
            "x-probe: 42",
            "-d",
            "{}",
        ],
        None,
    )
    .await;
    assert!(
        out.stdout.contains(r#""probeHeader": "42""#),
        "{}",
        out.stdout
    );

    // The exit code is the status code; stderr says the status and message.
    let out = tern(
        &[
            "call",
            &addr,
            "tern.probe.Probe/Echo",
            "-d",
            r#"{"failCode":5,"failMessage":"no such thing"}"#,
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 5);
    assert!(
        out.stderr.contains("NOT_FOUND: no such thing"),
        "{}",
        out.stderr
    );

    let out = tern(
        &[
            "call",
            &addr,
            "tern.probe.Probe/Echo",
            "--timeout",
            "100ms",
            "-d",
            r#"{"sleepMs":5000}"#,
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
}

#[tokio::test]
async fn bad_input_gets_errors_for_people() {
    let addr = serve().await;
    let out = tern(
        &["call", &addr, "hello.Hello/SayHello", "-d", r#"{"name":"#],
        None,
    )
    .await;
    assert_eq!(out.code, 64);
    assert!(out.stderr.contains("malformed JSON"), "{}", out.stderr);

    let out = tern(
        &[
            "call",
            &addr,
            "hello.Hello/SayHello",
            "-d",
            r#"{"nme":"x"}"#,
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 64);
    assert!(
        out.stderr.contains("hello.HelloRequest") && out.stderr.contains("nme"),
        "{}",
        out.stderr
    );

    let out = tern(&["call", &addr, "hello.Hello/SayHelo"], None).await;
    assert_eq!(out.code, 5);
    assert!(
        out.stderr.contains("did you mean hello.Hello/SayHello?"),
        "{}",
        out.stderr
    );

    let out = tern(&["call", &addr, "hello.Helo/SayHello"], None).await;
    assert_eq!(out.code, 5);
    assert!(
        out.stderr.contains("did you mean hello.Hello?"),
        "{}",
        out.stderr
    );

    // A closed port: UNAVAILABLE, naming the address, not a stack of wrappers.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = tern(&["call", &closed.to_string(), "hello.Hello/SayHello"], None).await;
    assert_eq!(out.code, 14);
    assert!(
        out.stderr
            .contains(&format!("failed to connect to {closed}")),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn health_exits_like_grpc_health_probe() {
    let addr = serve().await;
    let out = tern(&["health", &addr], None).await;
    assert_eq!((out.code, out.stdout.trim()), (0, "status: SERVING"));
    assert_eq!(tern(&["health", &addr, "hello.Hello"], None).await.code, 0);
    let out = tern(&["health", &addr, "tern.probe.Probe"], None).await;
    assert_eq!((out.code, out.stdout.trim()), (4, "status: NOT_SERVING"));
    assert_eq!(tern(&["health", &addr, "no.Such"], None).await.code, 3);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(tern(&["health", &closed.to_string()], None).await.code, 2);
}

#[tokio::test]
async fn proto_files_instead_of_reflection() {
    // A server without reflection, called through the .proto file.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tern::Server::builder()
            .add_service(hello::hello::hello_server::HelloServer::new(hello::Greeter))
            .serve_listener(listener, std::future::pending()),
    );
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello/proto");
    let proto = format!("{proto_dir}/hello.proto");
    let out = tern(&["call", &addr, "hello.Hello/SayHello", "-d", "{}"], None).await;
    assert_eq!(out.code, 12, "{}", out.stderr);
    assert!(out.stderr.contains("--proto"), "{}", out.stderr);
    let out = tern(
        &[
            "call",
            &addr,
            "hello.Hello/SayHello",
            "--proto",
            &proto,
            "-I",
            proto_dir,
            "-d",
            r#"{"name":"protos","age":3}"#,
        ],
        None,
    )
    .await;
    assert!(out.stdout.contains("hello protos 3"), "{}", out.stderr);
    let out = tern(
        &[
            "describe",
            &addr,
            "hello.HelloReply",
            "--proto",
            &proto,
            "-I",
            proto_dir,
        ],
        None,
    )
    .await;
    assert!(out.stdout.contains("string message = 1;"), "{}", out.stderr);
}

#[tokio::test]
async fn gen_writes_what_build_rs_would() {
    let out_dir = std::env::temp_dir().join(format!("tern-gen-{}", std::process::id()));
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hello/proto");
    let proto = format!("{proto_dir}/hello.proto");
    let out = tern(
        &[
            "gen",
            "--proto",
            &proto,
            "-I",
            proto_dir,
            "--out",
            out_dir.to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let code = std::fs::read_to_string(out_dir.join("hello.rs")).unwrap();
    assert!(code.contains("pub mod hello_server"));
    assert!(code.contains("pub struct HelloClient"));
    let _ = std::fs::remove_dir_all(&out_dir);
}

/// `tern describe` prints the .proto's comments, read from the descriptors the server's
/// reflection serves (tern-build keeps `source_code_info`), as grpcurl does.
#[tokio::test]
async fn describe_prints_the_proto_comments() {
    let addr = serve().await;
    let out = tern(&["describe", &addr, "tern.probe.Probe"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let service = lines
        .iter()
        .position(|l| l.starts_with("service Probe"))
        .unwrap();
    assert!(
        lines[service - 1].starts_with("// A service for testing the runtime"),
        "{}",
        out.stdout
    );
    let count = lines
        .iter()
        .position(|l| l.trim_start().starts_with("rpc Count"))
        .unwrap();
    assert_eq!(
        lines[count - 1],
        "  // Replies `count` times, numbered from 0.",
        "{}",
        out.stdout
    );

    let out = tern(&["describe", &addr, "tern.probe.EchoRequest"], None).await;
    assert!(
        out.stdout
            .contains("  // The handler panics.\n  bool panic = "),
        "{}",
        out.stdout
    );

    let out = tern(&["describe", &addr, "hello.Hello.SayHello"], None).await;
    assert!(
        out.stdout
            .contains("// Answers \"hello {name} {age}\".\nrpc SayHello"),
        "{}",
        out.stdout
    );
}

/// A broken .proto: `tern gen` says where and what, and exits 64 (not 101, a panic).
#[tokio::test]
async fn gen_reports_a_broken_proto_with_its_position() {
    let dir = std::env::temp_dir().join(format!("tern-gen-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("api.proto"),
        "syntax = \"proto3\";\npackage api;\nmessage Req {}\nservice S {\n  rpc Get(Req) returns (Reply);\n}\n",
    )
    .unwrap();
    let out = tern(
        &[
            "gen",
            "--proto",
            dir.join("api.proto").to_str().unwrap(),
            "-I",
            dir.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 64, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("error: api.proto:5:25: name 'Reply' is not defined"),
        "{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bug that opened issue 10, through `tern gen`: a method returning Empty.
#[tokio::test]
async fn gen_handles_a_method_returning_empty() {
    let dir = std::env::temp_dir().join(format!("tern-gen-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("api.proto"),
        "syntax = \"proto3\";\npackage api;\nimport \"google/protobuf/empty.proto\";\n\
         service S {\n  rpc Ping(google.protobuf.Empty) returns (google.protobuf.Empty);\n}\n",
    )
    .unwrap();
    let out = tern(
        &[
            "gen",
            "--proto",
            dir.join("api.proto").to_str().unwrap(),
            "-I",
            dir.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let code = std::fs::read_to_string(dir.join("out/api.rs")).unwrap();
    assert!(code.contains("::tern::Request<()>"), "{code}");
    assert!(dir.join("out").join("_includes.rs").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// grpc-go's own health and reflection services (tests/go/healthserver, built by
/// interop/peers/install.sh), read by tern.
#[tokio::test]
async fn reads_grpc_go_health_and_reflection() {
    use tokio::io::AsyncBufReadExt;
    let dir = std::env::var_os("TERN_PEERS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/.peers/bin")
        });
    let binary = dir.join("go-health-reflection-server");
    assert!(
        binary.exists(),
        "run interop/peers/install.sh (scripts/test.sh does)"
    );
    let mut server = tokio::process::Command::new(binary)
        .arg("127.0.0.1:0")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let addr = line.trim().trim_start_matches("listening on ").to_owned();

    let out = tern(&["list", &addr], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("grpc.health.v1.Health"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("grpc.reflection.v1.ServerReflection"),
        "{}",
        out.stdout
    );
    let out = tern(&["describe", &addr, "grpc.health.v1.Health"], None).await;
    assert!(out.stdout.contains("rpc Check ("), "{}", out.stdout);
    let out = tern(
        &[
            "call",
            &addr,
            "grpc.health.v1.Health/Check",
            "-d",
            r#"{"service":""}"#,
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(r#""status": "SERVING""#),
        "{}",
        out.stdout
    );
    assert_eq!(tern(&["health", &addr], None).await.code, 0);
    assert_eq!(tern(&["health", &addr, "down.Service"], None).await.code, 4);
    assert_eq!(tern(&["health", &addr, "no.Such"], None).await.code, 3);
}

#[tokio::test]
async fn bench_counts_calls_latencies_and_errors_for_every_shape() {
    let addr = serve().await;
    let bench = |extra: &'static [&'static str]| {
        let addr = addr.clone();
        async move {
            let mut args = vec!["bench", &addr, "--format", "json", "-c", "4"];
            args.extend_from_slice(extra);
            let out = tern(&args, None).await;
            assert_eq!(out.code, 0, "{}", out.stderr);
            serde_json::from_str::<serde_json::Value>(&out.stdout).unwrap()
        }
    };
    let unary = bench(&[
        "--call",
        "hello.Hello/SayHello",
        "-n",
        "200",
        "-d",
        r#"{"name":"b"}"#,
    ])
    .await;
    assert_eq!(unary["calls"], 200);
    assert_eq!(unary["ok"], 200);
    assert!(unary["latency_us"]["p50"].as_u64().unwrap() > 0);
    assert!(unary["latency_us"]["p99"].as_u64() >= unary["latency_us"]["p50"].as_u64());

    let failing = bench(&[
        "--call",
        "tern.probe.Probe/Echo",
        "-n",
        "20",
        "-d",
        r#"{"failCode":5}"#,
    ])
    .await;
    assert_eq!(failing["errors"]["NOT_FOUND"], 20);
    assert_eq!(failing["ok"], 0);

    let server_streaming = bench(&[
        "--call",
        "tern.probe.Probe/Count",
        "-n",
        "10",
        "-d",
        r#"{"count":3}"#,
    ])
    .await;
    assert_eq!(server_streaming["messages"], 30);

    let client_streaming = bench(&[
        "--call",
        "tern.probe.Probe/Sum",
        "-n",
        "10",
        "--stream-messages",
        "5",
        "-d",
        r#"{"value":1}"#,
    ])
    .await;
    assert_eq!(client_streaming["ok"], 10);

    let bidi = bench(&[
        "--call",
        "tern.probe.Probe/Chat",
        "-n",
        "10",
        "--stream-messages",
        "3",
    ])
    .await;
    assert_eq!(bidi["messages"], 30);

    let timed = bench(&[
        "--call",
        "hello.Hello/SayHello",
        "-z",
        "300ms",
        "--warmup",
        "100ms",
    ])
    .await;
    assert!(timed["calls"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn channelz_prints_servers_sockets_and_channels() {
    use tern_tests::probe::probe_client::ProbeClient;
    use tern_tests::probe::EchoRequest;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        tern::Server::builder()
            .admin()
            .add_service(tern_tests::probe::probe_server::ProbeServer::new(
                tern_tests::ProbeService,
            ))
            .serve_listener(listener, std::future::pending()),
    );
    // A recorded channel in this process, two calls that succeed and one that fails.
    let target = format!("http://{addr}");
    let channel = tern::Channel::builder(&target)
        .unwrap()
        .channelz()
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    for fail_code in [0, 0, 5] {
        let _ = client
            .echo(EchoRequest {
                fail_code,
                ..Default::default()
            })
            .await;
    }

    let out = tern(&["channelz", &addr], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    let words = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // The server's row: id, name, then calls started, succeeded, failed. Our three calls are
    // done; tern's own calls so far (GetServers is in flight) all succeeded.
    let server = lines
        .iter()
        .map(|l| words(l))
        .find(|w| w.get(1) == Some(&addr))
        .unwrap_or_else(|| panic!("no server row for {addr} in\n{}", out.stdout));
    let started: i64 = server[2].parse().unwrap();
    assert_eq!(server[4], "1", "{}", out.stdout);
    assert!(started >= 4, "{}", out.stdout);
    assert!(server[5].ends_with('Z'), "{}", out.stdout);
    let header = lines
        .iter()
        .position(|l| l.starts_with(&format!("sockets of server {} ", server[0])))
        .unwrap_or_else(|| panic!("no sockets of server {} in\n{}", server[0], out.stdout));
    assert_eq!(
        words(lines[header + 1])[..4],
        ["ID", "LOCAL", "REMOTE", "STREAMS"]
    );
    // Our connection: three streams, all of which sent a status; three messages each way
    // but the failed call's answer.
    let ours = lines[header + 2..]
        .iter()
        .take_while(|l| !l.is_empty())
        .map(|l| words(l))
        .find(|w| w[3] == "3")
        .unwrap_or_else(|| panic!("no socket with our three streams in\n{}", out.stdout));
    assert_eq!(ours[1], addr);
    assert!(ours[2].starts_with("127.0.0.1:"), "{}", out.stdout);
    assert_eq!(ours[4..8], ["3", "0", "2", "3"], "{}", out.stdout);
    // And the channel, with its target and state.
    let channel = lines
        .iter()
        .map(|l| words(l))
        .find(|w| w.get(1) == Some(&target))
        .unwrap_or_else(|| panic!("no channel row for {target} in\n{}", out.stdout));
    assert_eq!(channel[2..6], ["READY", "3", "2", "1"], "{}", out.stdout);
    // Its one subchannel (pick_first): the server's address, READY.
    let header = format!("subchannels of channel {} (1)", channel[0]);
    let at = lines
        .iter()
        .position(|l| *l == header)
        .unwrap_or_else(|| panic!("no {header:?} in\n{}", out.stdout));
    assert_eq!(words(lines[at + 1]), ["ID", "ADDRESS", "STATE"]);
    assert_eq!(
        words(lines[at + 2])[1..],
        [addr.clone(), "READY".to_owned()]
    );

    // A server without channelz: the error says how to turn it on.
    let plain = serve().await;
    let out = tern(&["channelz", &plain], None).await;
    assert_eq!(out.code, 12, "{}", out.stderr);
    assert!(out.stderr.contains(".with_admin()"), "{}", out.stderr);
}
