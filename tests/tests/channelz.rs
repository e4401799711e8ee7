//! channelz: a server's calls, connections, streams and messages, and a channel's calls, as
//! Tern's own channelz client, grpc-go's channelz client and grpcurl (through reflection) read
//! them; paging through servers, sockets and channels; entities leaving when they end; and the
//! admin one-liner serving channelz, health and reflection together.
//!
//! The registry is process-wide and the tests of this file share a process, so each test finds
//! its own server by its name (the listening address) and its channel by its target.

use std::net::SocketAddr;
use std::time::Duration;

use tern::services::channelz::proto::address::Address;
use tern::services::channelz::proto::channel_connectivity_state::State;
use tern::services::channelz::proto::channelz_client::ChannelzClient;
use tern::services::channelz::proto::{
    Channel as ChannelProto, GetChannelRequest, GetServerRequest, GetServerSocketsRequest,
    GetServersRequest, GetSocketRequest, GetSubchannelRequest, GetTopChannelsRequest,
    Server as ServerProto, Socket,
};
use tern::services::channelz::ChannelzService;
use tern::{Channel, Code};
use tern_tests::probe::probe_client::ProbeClient;
use tern_tests::probe::probe_server::ProbeServer;
use tern_tests::probe::{CountRequest, EchoRequest};
use tern_tests::ProbeService;
use tern_tests::ReceiverStream;

type Stop = tokio::sync::oneshot::Sender<()>;
type Task = tokio::task::JoinHandle<Result<(), tern::Error>>;

/// A probe server on a free loopback port that records itself in channelz.
async fn recorded_server() -> (SocketAddr, Stop, Task) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(
        tern::Server::builder()
            .channelz()
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, async {
                let _ = stopped.await;
            }),
    );
    (addr, stop, task)
}

/// A server that answers channelz without recording itself, so that asking does not change
/// the counts being checked.
async fn channelz_client() -> ChannelzClient {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .add_service(ChannelzService::server())
            .serve_listener(listener, std::future::pending()),
    );
    ChannelzClient::connect(&format!("http://{addr}"))
        .await
        .unwrap()
}

/// Every server, read a page of `page` at a time.
async fn all_servers(channelz: &ChannelzClient, page: i64) -> Vec<ServerProto> {
    let mut servers = Vec::new();
    let mut start = 0;
    loop {
        let response = channelz
            .get_servers(GetServersRequest {
                start_server_id: start,
                max_results: page,
            })
            .await
            .unwrap()
            .into_inner();
        assert!(response.server.len() <= page as usize);
        for server in &response.server {
            let id = server.r#ref.as_ref().unwrap().server_id;
            assert!(id >= start, "servers come in ascending id order");
            start = id + 1;
        }
        servers.extend(response.server);
        if response.end {
            return servers;
        }
    }
}

async fn server_named(channelz: &ChannelzClient, addr: SocketAddr) -> Option<ServerProto> {
    all_servers(channelz, 100)
        .await
        .into_iter()
        .find(|s| s.r#ref.as_ref().unwrap().name == addr.to_string())
}

fn server_id(server: &ServerProto) -> i64 {
    server.r#ref.as_ref().unwrap().server_id
}

async fn socket_ids(channelz: &ChannelzClient, server: i64) -> Vec<i64> {
    channelz
        .get_server_sockets(GetServerSocketsRequest {
            server_id: server,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .socket_ref
        .iter()
        .map(|r| r.socket_id)
        .collect()
}

async fn socket(channelz: &ChannelzClient, id: i64) -> Socket {
    channelz
        .get_socket(GetSocketRequest {
            socket_id: id,
            summary: false,
        })
        .await
        .unwrap()
        .into_inner()
        .socket
        .unwrap()
}

async fn channel_for(channelz: &ChannelzClient, target: &str) -> Option<ChannelProto> {
    let channels = channelz
        .get_top_channels(GetTopChannelsRequest::default())
        .await
        .unwrap()
        .into_inner()
        .channel;
    channels
        .into_iter()
        .find(|c| c.data.as_ref().unwrap().target == target)
}

fn tcp(address: Option<&tern::services::channelz::proto::Address>) -> SocketAddr {
    match address.and_then(|a| a.address.as_ref()) {
        Some(Address::TcpipAddress(a)) => {
            let ip: [u8; 4] = a.ip_address.as_slice().try_into().unwrap();
            SocketAddr::from((ip, u16::try_from(a.port).unwrap()))
        }
        other => panic!("not a TCP address: {other:?}"),
    }
}

/// Waits (a bounded number of short sleeps, never asserting on time) for `done` to hold.
async fn eventually<F: std::future::Future<Output = bool>>(mut done: impl FnMut() -> F) {
    for _ in 0..500 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the channelz view never reached the expected state");
}

/// Three calls that succeed, two that fail and a server stream of three replies.
async fn make_calls(client: &ProbeClient) {
    for i in 0..3 {
        let reply = client
            .echo(EchoRequest {
                message: format!("call {i}"),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(reply.into_inner().message, format!("call {i}"));
    }
    for _ in 0..2 {
        let status = client
            .echo(EchoRequest {
                fail_code: Code::NotFound as i32,
                fail_message: "no such thing".into(),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    }
    let mut replies = client
        .count(CountRequest {
            count: 3,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut n = 0;
    while replies.message().await.unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
}

#[tokio::test]
async fn counts_calls_streams_messages_and_addresses() {
    let (addr, _stop, _task) = recorded_server().await;
    let target = format!("http://{addr}");
    let channel = Channel::builder(&target)
        .unwrap()
        .channelz()
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel.clone());
    let channelz = channelz_client().await;

    // A channel is recorded from the start, with its own connectivity state: READY once
    // connected, before any call.
    let fresh = channel_for(&channelz, &target).await.unwrap();
    let data = fresh.data.unwrap();
    assert_eq!(data.calls_started, 0);
    assert_eq!(data.state.unwrap().state(), State::Ready);
    assert!(data.last_call_started_timestamp.is_none());
    // A lazy one is IDLE until used, and SHUTDOWN once shut down.
    let bare = addr.to_string();
    let lazy = Channel::builder(&bare).unwrap().channelz().lazy();
    let state = |c: Option<ChannelProto>| c.unwrap().data.unwrap().state.unwrap().state();
    assert_eq!(state(channel_for(&channelz, &bare).await), State::Idle);
    lazy.shutdown();
    assert_eq!(state(channel_for(&channelz, &bare).await), State::Shutdown);
    drop(lazy);

    make_calls(&client).await;

    let server = server_named(&channelz, addr).await.unwrap();
    let data = server.data.clone().unwrap();
    assert_eq!(data.calls_started, 6);
    assert_eq!(data.calls_succeeded, 4);
    assert_eq!(data.calls_failed, 2);
    assert!(data.last_call_started_timestamp.is_some());
    // GetServer gives the same server.
    let again = channelz
        .get_server(GetServerRequest {
            server_id: server_id(&server),
        })
        .await
        .unwrap()
        .into_inner()
        .server
        .unwrap();
    assert_eq!(again.data.unwrap().calls_started, 6);

    // Its listening socket is where we connected.
    assert_eq!(server.listen_socket.len(), 1);
    let listen = socket(&channelz, server.listen_socket[0].socket_id).await;
    assert_eq!(tcp(listen.local.as_ref()), addr);
    assert!(listen.remote.is_none());

    // Its one connection: ours, with every stream and message.
    let sockets = socket_ids(&channelz, server_id(&server)).await;
    assert_eq!(sockets.len(), 1);
    let connection = socket(&channelz, sockets[0]).await;
    assert_eq!(tcp(connection.local.as_ref()), addr);
    let remote = tcp(connection.remote.as_ref());
    assert_eq!(remote.ip(), addr.ip());
    assert_ne!(remote.port(), addr.port());
    let data = connection.data.unwrap();
    assert_eq!(data.streams_started, 6);
    // Every stream ended with a status sent, the two NOT_FOUND ones included.
    assert_eq!(data.streams_succeeded, 6);
    assert_eq!(data.streams_failed, 0);
    assert_eq!(data.messages_received, 6);
    assert_eq!(data.messages_sent, 3 + 3);
    assert!(data.last_remote_stream_created_timestamp.is_some());
    assert!(data.last_message_sent_timestamp.is_some());
    assert!(data.last_message_received_timestamp.is_some());
    // A summary leaves the addresses out.
    let summary = channelz
        .get_socket(GetSocketRequest {
            socket_id: sockets[0],
            summary: true,
        })
        .await
        .unwrap()
        .into_inner()
        .socket
        .unwrap();
    assert!(summary.local.is_none() && summary.remote.is_none());
    assert_eq!(summary.data.unwrap().streams_started, 6);

    // The channel counted the same calls, and is READY.
    let recorded = channel_for(&channelz, &target).await.unwrap();
    let id = recorded.r#ref.as_ref().unwrap().channel_id;
    let data = recorded.data.unwrap();
    assert_eq!(data.calls_started, 6);
    assert_eq!(data.calls_succeeded, 4);
    assert_eq!(data.calls_failed, 2);
    assert_eq!(data.state.unwrap().state(), State::Ready);
    assert!(data.last_call_started_timestamp.is_some());
    let by_id = channelz
        .get_channel(GetChannelRequest { channel_id: id })
        .await
        .unwrap()
        .into_inner()
        .channel
        .unwrap();
    assert_eq!(by_id.data.unwrap().calls_started, 6);
    // pick_first's one subchannel: the server's address, READY.
    assert_eq!(by_id.subchannel_ref.len(), 1);
    let subchannel_id = by_id.subchannel_ref[0].subchannel_id;
    assert_eq!(by_id.subchannel_ref[0].name, addr.to_string());
    let subchannel = channelz
        .get_subchannel(GetSubchannelRequest { subchannel_id })
        .await
        .unwrap()
        .into_inner()
        .subchannel
        .unwrap();
    let data = subchannel.data.unwrap();
    assert_eq!(data.target, addr.to_string());
    assert_eq!(data.state.unwrap().state(), State::Ready);

    // Unknown ids are NOT_FOUND.
    let missing = |status: tern::Status| assert_eq!(status.code(), Code::NotFound);
    missing(
        channelz
            .get_socket(GetSocketRequest {
                socket_id: i64::MAX,
                summary: false,
            })
            .await
            .unwrap_err(),
    );
    missing(
        channelz
            .get_subchannel(GetSubchannelRequest { subchannel_id: 1 })
            .await
            .unwrap_err(),
    );
    missing(
        channelz
            .get_server_sockets(GetServerSocketsRequest {
                server_id: i64::MAX,
                ..Default::default()
            })
            .await
            .unwrap_err(),
    );

    // Once the last clone of the channel is gone, so is its record.
    drop(client);
    drop(channel);
    assert!(channel_for(&channelz, &target).await.is_none());
    missing(
        channelz
            .get_channel(GetChannelRequest { channel_id: id })
            .await
            .unwrap_err(),
    );
    missing(
        channelz
            .get_subchannel(GetSubchannelRequest { subchannel_id })
            .await
            .unwrap_err(),
    );
}

#[tokio::test]
async fn a_round_robin_channel_lists_a_subchannel_per_address() {
    let (a, _stop_a, _task_a) = recorded_server().await;
    let (b, _stop_b, _task_b) = recorded_server().await;
    let target = format!("ipv4:{a},{b}");
    let channel = Channel::builder(&target)
        .unwrap()
        .load_balancing(tern::client::LoadBalancing::RoundRobin)
        .channelz()
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel.clone());
    let channelz = channelz_client().await;
    // Both connect in the end (connect returns at the first READY one).
    eventually(|| async {
        let channel = channel_for(&channelz, &target).await.unwrap();
        let mut ready = 0;
        for r in &channel.subchannel_ref {
            let subchannel = channelz
                .get_subchannel(GetSubchannelRequest {
                    subchannel_id: r.subchannel_id,
                })
                .await
                .unwrap()
                .into_inner()
                .subchannel
                .unwrap();
            let data = subchannel.data.unwrap();
            ready += usize::from(data.state.unwrap().state() == State::Ready);
        }
        ready == 2
    })
    .await;
    let channel_view = channel_for(&channelz, &target).await.unwrap();
    let mut names: Vec<String> = channel_view
        .subchannel_ref
        .iter()
        .map(|r| r.name.clone())
        .collect();
    names.sort();
    let mut expected = vec![a.to_string(), b.to_string()];
    expected.sort();
    assert_eq!(names, expected);
    for _ in 0..4 {
        client.echo(EchoRequest::default()).await.unwrap();
    }
    // The calls went round: each server saw two.
    for addr in [a, b] {
        let server = server_named(&channelz, addr).await.unwrap();
        assert_eq!(server.data.unwrap().calls_started, 2, "{addr}");
    }
}

#[tokio::test]
async fn a_stream_the_client_resets_counts_as_failed() {
    let (addr, _stop, _task) = recorded_server().await;
    let client = ProbeClient::connect(&format!("http://{addr}"))
        .await
        .unwrap();
    let channelz = channelz_client().await;
    let (tx, rx) = tokio::sync::mpsc::channel::<EchoRequest>(1);
    let mut replies = client.chat(ReceiverStream(rx)).await.unwrap().into_inner();
    tx.send(EchoRequest {
        message: "one".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    assert_eq!(replies.message().await.unwrap().unwrap().message, "one");
    // Dropping the response stream resets the call.
    drop(replies);
    drop(tx);

    let id = server_id(&server_named(&channelz, addr).await.unwrap());
    eventually(|| async {
        let server = channelz
            .get_server(GetServerRequest { server_id: id })
            .await
            .unwrap()
            .into_inner()
            .server
            .unwrap();
        server.data.unwrap().calls_failed == 1
    })
    .await;
    let sockets = socket_ids(&channelz, id).await;
    assert_eq!(sockets.len(), 1);
    let data = socket(&channelz, sockets[0]).await.data.unwrap();
    assert_eq!(data.streams_started, 1);
    assert_eq!(data.streams_failed, 1);
    assert_eq!(data.streams_succeeded, 0);
    assert_eq!(data.messages_received, 1);
    assert_eq!(data.messages_sent, 1);
}

#[tokio::test]
async fn pages_through_servers_and_sockets_and_forgets_what_ends() {
    let channelz = channelz_client().await;
    let mut servers = Vec::new();
    for _ in 0..3 {
        servers.push(recorded_server().await);
    }
    let addrs: Vec<String> = servers.iter().map(|(a, _, _)| a.to_string()).collect();

    // One a page: every server is seen once, in ascending id order (all_servers checks).
    let seen = all_servers(&channelz, 1).await;
    let names: Vec<String> = seen
        .iter()
        .map(|s| s.r#ref.as_ref().unwrap().name.clone())
        .collect();
    for addr in &addrs {
        assert_eq!(names.iter().filter(|n| *n == addr).count(), 1, "{addr}");
    }
    let negative = channelz
        .get_servers(GetServersRequest {
            start_server_id: 0,
            max_results: -1,
        })
        .await
        .unwrap_err();
    assert_eq!(negative.code(), Code::InvalidArgument);

    // Three connections to the first server, paged two at a time.
    let addr = &servers[0].0.clone();
    let mut channels = Vec::new();
    for _ in 0..3 {
        let client = ProbeClient::connect(&format!("http://{addr}"))
            .await
            .unwrap();
        client.echo(EchoRequest::default()).await.unwrap();
        channels.push(client);
    }
    let id = server_id(&server_named(&channelz, *addr).await.unwrap());
    let first = channelz
        .get_server_sockets(GetServerSocketsRequest {
            server_id: id,
            start_socket_id: 0,
            max_results: 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.socket_ref.len(), 2);
    assert!(!first.end);
    let last = first.socket_ref[1].socket_id;
    assert!(first.socket_ref[0].socket_id < last);
    let second = channelz
        .get_server_sockets(GetServerSocketsRequest {
            server_id: id,
            start_socket_id: last + 1,
            max_results: 2,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.socket_ref.len(), 1);
    assert!(second.end);
    assert!(second.socket_ref[0].socket_id > last);

    // A closed connection leaves its server's sockets.
    channels.pop();
    eventually(|| async { socket_ids(&channelz, id).await.len() == 2 }).await;

    // A stopped server leaves the list, and its listening socket goes with it.
    let listen = server_named(&channelz, *addr).await.unwrap().listen_socket[0].socket_id;
    drop(channels);
    let (_, stop, task) = servers.remove(0);
    let _ = stop.send(());
    task.await.unwrap().unwrap();
    assert!(server_named(&channelz, *addr).await.is_none());
    let gone = channelz
        .get_server(GetServerRequest { server_id: id })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    let gone = channelz
        .get_socket(GetSocketRequest {
            socket_id: listen,
            summary: false,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
}

/// A probe server with the admin services, and a recorded channel that made `make_calls` on it.
async fn admin_server() -> (SocketAddr, ProbeClient) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .admin()
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending()),
    );
    let channel = Channel::builder(&format!("http://{addr}"))
        .unwrap()
        .channelz()
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    make_calls(&client).await;
    (addr, client)
}

#[tokio::test]
async fn admin_serves_channelz_health_and_reflection() {
    use tern::services::health::proto::health_check_response::ServingStatus;
    use tern::services::health::proto::health_client::HealthClient;
    use tern::services::health::proto::HealthCheckRequest;

    let (addr, _client) = admin_server().await;
    let target = format!("http://{addr}");
    let health = HealthClient::connect(&target).await.unwrap();
    let status = health
        .check(HealthCheckRequest::default())
        .await
        .unwrap()
        .into_inner()
        .status();
    assert_eq!(status, ServingStatus::Serving);

    // The admin server's own channelz lists it, counting our six calls and the health check.
    let channelz = ChannelzClient::connect(&target).await.unwrap();
    let server = server_named(&channelz, addr).await.unwrap();
    let data = server.data.unwrap();
    assert_eq!(data.calls_failed, 2);
    assert!(data.calls_started >= 7, "{data:?}");

    let list = run_grpcurl(&["-plaintext", &addr.to_string(), "list"]).await;
    for service in [
        "grpc.channelz.v1.Channelz",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        assert!(
            list.lines().any(|l| l == service),
            "{service} not in {list}"
        );
    }
}

fn peer(name: &str) -> std::path::PathBuf {
    let dir = std::env::var_os("TERN_PEERS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../interop/.peers/bin")
        });
    let path = dir.join(name);
    assert!(
        path.exists(),
        "no {name} at {}: run interop/peers/install.sh (scripts/test.sh does)",
        path.display()
    );
    path
}

async fn run(program: &str, args: &[&str]) -> serde_json::Value {
    let output = tokio::process::Command::new(peer(program))
        .args(args)
        .output()
        .await
        .expect("run the peer");
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{program} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

async fn run_grpcurl(args: &[&str]) -> String {
    let output = tokio::process::Command::new(peer("grpcurl"))
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

/// A JSON int64 as protojson writes it (a string), or 0 when absent (proto3 default).
fn int(value: &serde_json::Value) -> i64 {
    match value {
        serde_json::Value::String(s) => s.parse().unwrap(),
        serde_json::Value::Number(n) => n.as_i64().unwrap(),
        serde_json::Value::Null => 0,
        other => panic!("not an int64: {other}"),
    }
}

/// grpcurl knows nothing of channelz but what reflection tells it: it calls GetServers and
/// GetServerSockets on a Tern admin server and reads the answers.
#[tokio::test]
async fn grpcurl_reads_channelz_through_reflection() {
    let (addr, _client) = admin_server().await;
    let addr_s = addr.to_string();
    let describe = run_grpcurl(&[
        "-plaintext",
        &addr_s,
        "describe",
        "grpc.channelz.v1.Channelz",
    ])
    .await;
    assert!(describe.contains("GetServerSockets"), "{describe}");

    let text = run_grpcurl(&[
        "-plaintext",
        "-d",
        "{}",
        &addr_s,
        "grpc.channelz.v1.Channelz/GetServers",
    ])
    .await;
    let servers: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(servers["end"], true);
    let server = servers["server"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["ref"]["name"] == addr_s.as_str())
        .unwrap_or_else(|| panic!("{addr} not in {text}"));
    let data = &server["data"];
    assert_eq!(int(&data["callsFailed"]), 2);
    assert!(int(&data["callsSucceeded"]) >= 4, "{data}");
    assert!(int(&data["callsStarted"]) >= 6, "{data}");
    assert!(data["lastCallStartedTimestamp"].is_string(), "{data}");
    let id = int(&server["ref"]["serverId"]);

    let text = run_grpcurl(&[
        "-plaintext",
        "-d",
        &format!(r#"{{"server_id": {id}}}"#),
        &addr_s,
        "grpc.channelz.v1.Channelz/GetServerSockets",
    ])
    .await;
    let sockets: serde_json::Value = serde_json::from_str(&text).unwrap();
    // Our channel's connection and grpcurl's own (and perhaps the describe call's, if the
    // server has not yet seen that grpcurl close it).
    let refs = sockets["socketRef"].as_array().unwrap();
    assert!(refs.len() >= 2, "{text}");
    assert!(refs.iter().all(|r| int(&r["socketId"]) > 0), "{text}");
}

/// grpc-go's own channelz client (its generated `grpc_channelz_v1` client, in tests/go)
/// pages through a Tern admin server's view one result at a time and decodes every message.
#[tokio::test]
async fn grpc_go_channelz_client_reads_the_view() {
    let (addr, _client) = admin_server().await;
    let view = run("go-channelz-client", &[&addr.to_string()]).await;

    let server = view["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["server"]["ref"]["name"] == addr.to_string().as_str())
        .unwrap_or_else(|| panic!("{addr} not in {view}"));
    // Our two failures, and perhaps some of grpc-go's own GetSocket calls: NOT_FOUND for the
    // connections that other tests of this process closed while it paged.
    let data = &server["server"]["data"];
    assert!(int(&data["calls_failed"]) >= 2, "{data}");
    assert!(int(&data["calls_succeeded"]) >= 4, "{data}");
    assert_eq!(
        server["server"]["listen_socket"].as_array().unwrap().len(),
        1
    );

    // Our channel's connection, as grpc-go decoded it: its streams and messages, and both
    // addresses as 4-byte IPv4 (base64 in protojson) with the server's port locally.
    let ours = server["sockets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| {
            int(&s["data"]["streams_started"]) == 6 && int(&s["data"]["messages_received"]) == 6
        })
        .unwrap_or_else(|| panic!("no socket with our six streams in {server}"));
    assert_eq!(int(&ours["data"]["streams_succeeded"]), 6);
    assert_eq!(int(&ours["data"]["messages_sent"]), 6);
    let local = &ours["local"]["tcpip_address"];
    assert_eq!(local["ip_address"], "fwAAAQ==");
    assert_eq!(local["port"], addr.port());
    assert_eq!(ours["remote"]["tcpip_address"]["ip_address"], "fwAAAQ==");
    assert!(ours["data"]["last_remote_stream_created_timestamp"].is_string());

    // Our recorded channel, among the process's top channels.
    let target = format!("http://{addr}");
    let channel = view["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["data"]["target"] == target.as_str())
        .unwrap_or_else(|| panic!("{target} not in {view}"));
    assert_eq!(channel["data"]["state"]["state"], "READY");
    assert_eq!(int(&channel["data"]["calls_started"]), 6);
    assert_eq!(int(&channel["data"]["calls_succeeded"]), 4);
    assert_eq!(int(&channel["data"]["calls_failed"]), 2);
}

#[cfg(unix)]
#[tokio::test]
async fn unix_and_in_memory_servers_name_their_sockets() {
    use tern::services::channelz::proto::address::{OtherAddress, UdsAddress};
    let channelz = channelz_client().await;

    let listener = tern::memory::MemoryListener::new();
    let connector = listener.connector();
    tokio::spawn(
        tern::Server::builder()
            .channelz()
            .add_service(ProbeServer::new(ProbeService))
            .serve_memory(listener, std::future::pending()),
    );
    let memory = ProbeClient::new(connector.connect().await.unwrap());
    memory.echo(EchoRequest::default()).await.unwrap();

    let dir = std::env::temp_dir().join(format!("tern-channelz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("probe.sock");
    let _ = std::fs::remove_file(&path);
    tokio::spawn(
        tern::Server::builder()
            .channelz()
            .add_service(ProbeServer::new(ProbeService))
            .serve_unix(path.clone(), std::future::pending()),
    );
    let target = format!("unix:{}", path.display());
    let mut unix = None;
    for _ in 0..500 {
        if let Ok(client) = ProbeClient::connect(&target).await {
            unix = Some(client);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let unix = unix.expect("the unix server never listened");
    unix.echo(EchoRequest::default()).await.unwrap();

    // Servers named after where they listen: "memory" (there may be others of this process
    // with that name; ours has a connection with one stream) and unix:PATH.
    let servers = all_servers(&channelz, 100).await;
    let mut memory_sockets = Vec::new();
    for server in servers
        .iter()
        .filter(|s| s.r#ref.as_ref().unwrap().name == "memory")
    {
        for id in socket_ids(&channelz, server_id(server)).await {
            memory_sockets.push(socket(&channelz, id).await);
        }
    }
    let ours = memory_sockets
        .iter()
        .find(|s| s.data.as_ref().unwrap().streams_started == 1)
        .expect("our in-memory connection");
    assert_eq!(
        ours.local.as_ref().unwrap().address,
        Some(Address::OtherAddress(OtherAddress {
            name: "memory".into(),
            value: None
        }))
    );
    assert!(ours.remote.is_none());

    let name = format!("unix:{}", path.display());
    let server = servers
        .iter()
        .find(|s| s.r#ref.as_ref().unwrap().name == name)
        .unwrap_or_else(|| panic!("no server {name}"));
    let sockets = socket_ids(&channelz, server_id(server)).await;
    assert_eq!(sockets.len(), 1);
    let connection = socket(&channelz, sockets[0]).await;
    assert_eq!(
        connection.local.unwrap().address,
        Some(Address::UdsAddress(UdsAddress {
            filename: path.display().to_string()
        }))
    );
    assert_eq!(connection.data.unwrap().streams_succeeded, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_tls_connection_shows_its_cipher_suite_and_client_certificate_and_keepalives() {
    use tern::services::channelz::proto::security::tls::CipherSuite;
    use tern::services::channelz::proto::security::Model;
    use tern::tls::{ClientTlsConfig, ServerTlsConfig};
    use tern_tests::pki::{TestPki, SERVER_NAMES};

    let pki = TestPki::new("channelz test CA");
    let client_leaf = pki.client("ada");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tern::Server::builder()
            .tls(ServerTlsConfig::new(pki.server(SERVER_NAMES).identity()).client_ca(pki.ca()))
            .unwrap()
            .http2_keepalive_interval(Some(Duration::from_millis(20)))
            .channelz()
            .add_service(ProbeServer::new(ProbeService))
            .serve_listener(listener, std::future::pending()),
    );
    let channel = Channel::builder(&format!("https://{addr}"))
        .unwrap()
        .tls(
            ClientTlsConfig::new()
                .ca_certificate(pki.ca())
                .identity(client_leaf.identity()),
        )
        .connect()
        .await
        .unwrap();
    let client = ProbeClient::new(channel);
    client.echo(EchoRequest::default()).await.unwrap();

    let channelz = channelz_client().await;
    let id = server_id(&server_named(&channelz, addr).await.unwrap());
    let sockets = socket_ids(&channelz, id).await;
    assert_eq!(sockets.len(), 1);
    let connection = socket(&channelz, sockets[0]).await;
    match connection.security.and_then(|s| s.model) {
        Some(Model::Tls(tls)) => {
            match tls.cipher_suite {
                Some(CipherSuite::StandardName(name)) => {
                    assert!(name.starts_with("TLS"), "{name}")
                }
                other => panic!("no cipher suite name: {other:?}"),
            }
            assert_eq!(
                tls.remote_certificate,
                client_leaf.identity().certificates()[0].to_vec()
            );
        }
        other => panic!("no TLS security: {other:?}"),
    }
    // The server's keepalive PINGs are counted.
    eventually(|| async {
        let data = socket(&channelz, sockets[0]).await.data.unwrap();
        data.keep_alives_sent >= 1
    })
    .await;
}
