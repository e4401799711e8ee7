//! `tern channelz ADDR`: a server's channelz view (`grpc.channelz.v1`) as tables — its servers
//! with their calls, each server's connections with their streams and messages, and the
//! process's channels.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use tern::services::channelz::proto::address::Address as AddressKind;
use tern::services::channelz::proto::channel_connectivity_state::State;
use tern::services::channelz::proto::channelz_client::ChannelzClient;
use tern::services::channelz::proto::{
    Address, Channel, ChannelData, GetServerSocketsRequest, GetServersRequest, GetSocketRequest,
    GetSubchannelRequest, GetTopChannelsRequest, Server, Socket, Subchannel,
};
use tern::Status;

use crate::{connect, Failure, Target};

/// Asks `addr` for its channelz view and prints it.
pub(crate) async fn run(addr: &Target) -> Result<(), Failure> {
    let client = ChannelzClient::new(connect(addr).await?);
    let servers = servers(&client).await.map_err(explain)?;
    let mut sockets = Vec::with_capacity(servers.len());
    for server in &servers {
        let listed = match server_sockets(&client, id_of(server)).await {
            // Stopped since it was listed.
            Err(status) if status.code() == tern::Code::NotFound => Vec::new(),
            listed => listed.map_err(explain)?,
        };
        sockets.push(listed);
    }
    let channels = channels(&client).await.map_err(explain)?;
    let mut subchannels = Vec::with_capacity(channels.len());
    for channel in &channels {
        subchannels.push(
            channel_subchannels(&client, channel)
                .await
                .map_err(explain)?,
        );
    }
    print!("{}", render(&servers, &sockets, &channels, &subchannels));
    Ok(())
}

async fn channel_subchannels(
    client: &ChannelzClient,
    channel: &Channel,
) -> Result<Vec<Subchannel>, Status> {
    let mut all = Vec::new();
    for reference in &channel.subchannel_ref {
        let subchannel = client
            .get_subchannel(GetSubchannelRequest {
                subchannel_id: reference.subchannel_id,
            })
            .await;
        match subchannel {
            Ok(subchannel) => all.extend(subchannel.into_inner().subchannel),
            // Gone since the channel was read.
            Err(status) if status.code() == tern::Code::NotFound => {}
            Err(status) => return Err(status),
        }
    }
    Ok(all)
}

/// A server without channelz answers UNIMPLEMENTED; say what would turn it on.
fn explain(status: Status) -> Failure {
    if status.code() == tern::Code::Unimplemented {
        return Failure::rpc(Status::unimplemented(format!(
            "{} (the server does not serve grpc.channelz.v1.Channelz; a Tern server turns it on \
             with .with_admin() or .with_channelz())",
            status.message()
        )));
    }
    Failure::rpc(status)
}

fn id_of(server: &Server) -> i64 {
    server.r#ref.as_ref().map_or(0, |r| r.server_id)
}

async fn servers(client: &ChannelzClient) -> Result<Vec<Server>, Status> {
    let mut all = Vec::new();
    let mut start = 0;
    loop {
        let page = client
            .get_servers(GetServersRequest {
                start_server_id: start,
                max_results: 0,
            })
            .await?
            .into_inner();
        let Some(last) = page.server.last() else {
            return Ok(all);
        };
        start = id_of(last) + 1;
        all.extend(page.server);
        if page.end {
            return Ok(all);
        }
    }
}

async fn server_sockets(client: &ChannelzClient, server: i64) -> Result<Vec<Socket>, Status> {
    let mut all = Vec::new();
    let mut start = 0;
    loop {
        let page = client
            .get_server_sockets(GetServerSocketsRequest {
                server_id: server,
                start_socket_id: start,
                max_results: 0,
            })
            .await?
            .into_inner();
        for reference in &page.socket_ref {
            start = reference.socket_id + 1;
            let socket = client
                .get_socket(GetSocketRequest {
                    socket_id: reference.socket_id,
                    summary: false,
                })
                .await;
            match socket {
                Ok(socket) => all.extend(socket.into_inner().socket),
                // Closed since it was listed.
                Err(status) if status.code() == tern::Code::NotFound => {}
                Err(status) => return Err(status),
            }
        }
        if page.end || page.socket_ref.is_empty() {
            return Ok(all);
        }
    }
}

async fn channels(client: &ChannelzClient) -> Result<Vec<Channel>, Status> {
    let mut all = Vec::new();
    let mut start = 0;
    loop {
        let page = client
            .get_top_channels(GetTopChannelsRequest {
                start_channel_id: start,
                max_results: 0,
            })
            .await?
            .into_inner();
        let Some(last) = page.channel.last() else {
            return Ok(all);
        };
        start = last.r#ref.as_ref().map_or(0, |r| r.channel_id) + 1;
        all.extend(page.channel);
        if page.end {
            return Ok(all);
        }
    }
}

/// An address as people write it: `127.0.0.1:5000`, `[::1]:5000`, `unix:/path`.
fn address(address: Option<&Address>) -> String {
    match address.and_then(|a| a.address.as_ref()) {
        Some(AddressKind::TcpipAddress(tcp)) => {
            let ip = match tcp.ip_address.len() {
                4 => <[u8; 4]>::try_from(tcp.ip_address.as_slice())
                    .ok()
                    .map(IpAddr::from),
                16 => <[u8; 16]>::try_from(tcp.ip_address.as_slice())
                    .ok()
                    .map(IpAddr::from),
                _ => None,
            };
            match (ip, u16::try_from(tcp.port)) {
                (Some(ip), Ok(port)) => SocketAddr::new(ip, port).to_string(),
                (Some(ip), Err(_)) => ip.to_string(),
                (None, _) => "?".to_owned(),
            }
        }
        Some(AddressKind::UdsAddress(uds)) => format!("unix:{}", uds.filename),
        Some(AddressKind::OtherAddress(other)) => other.name.clone(),
        None => "-".to_owned(),
    }
}

/// A timestamp to the second, in UTC; `-` for never.
fn when(timestamp: Option<&tern::codegen::prost_types::Timestamp>) -> String {
    timestamp.map_or_else(
        || "-".to_owned(),
        |t| {
            tern::codegen::prost_types::Timestamp {
                seconds: t.seconds,
                nanos: 0,
            }
            .to_string()
        },
    )
}

/// How a socket is secured: its TLS cipher suite, or `-`.
fn security(socket: &Socket) -> String {
    use tern::services::channelz::proto::security::{tls::CipherSuite, Model};
    match socket.security.as_ref().and_then(|s| s.model.as_ref()) {
        Some(Model::Tls(tls)) => match &tls.cipher_suite {
            Some(CipherSuite::StandardName(name) | CipherSuite::OtherName(name)) => name.clone(),
            None => "TLS".to_owned(),
        },
        Some(Model::Other(other)) => other.name.clone(),
        None => "-".to_owned(),
    }
}

fn state_name(data: Option<&ChannelData>) -> &'static str {
    let state = data
        .and_then(|d| d.state.as_ref())
        .map_or(State::Unknown, |s| s.state());
    state.as_str_name()
}

/// Columns padded to their widest cell, two spaces apart, each line indented by `indent`.
fn table(out: &mut String, indent: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let mut text = String::from(indent);
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

fn render(
    servers: &[Server],
    sockets: &[Vec<Socket>],
    channels: &[Channel],
    subchannels: &[Vec<Subchannel>],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "servers ({})", servers.len());
    if !servers.is_empty() {
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|server| {
                let data = server.data.clone().unwrap_or_default();
                let name = server.r#ref.as_ref().map_or("", |r| r.name.as_str());
                vec![
                    id_of(server).to_string(),
                    if name.is_empty() { "-" } else { name }.to_owned(),
                    data.calls_started.to_string(),
                    data.calls_succeeded.to_string(),
                    data.calls_failed.to_string(),
                    when(data.last_call_started_timestamp.as_ref()),
                ]
            })
            .collect();
        table(
            &mut out,
            "  ",
            &["ID", "NAME", "STARTED", "SUCCEEDED", "FAILED", "LAST CALL"],
            &rows,
        );
    }
    for (server, sockets) in servers.iter().zip(sockets) {
        let _ = writeln!(
            out,
            "\nsockets of server {} ({})",
            id_of(server),
            sockets.len()
        );
        if sockets.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = sockets
            .iter()
            .map(|socket| {
                let data = socket.data.clone().unwrap_or_default();
                vec![
                    socket.r#ref.as_ref().map_or(0, |r| r.socket_id).to_string(),
                    address(socket.local.as_ref()),
                    address(socket.remote.as_ref()),
                    data.streams_started.to_string(),
                    data.streams_succeeded.to_string(),
                    data.streams_failed.to_string(),
                    data.messages_sent.to_string(),
                    data.messages_received.to_string(),
                    when(data.last_remote_stream_created_timestamp.as_ref()),
                    security(socket),
                ]
            })
            .collect();
        table(
            &mut out,
            "  ",
            &[
                "ID",
                "LOCAL",
                "REMOTE",
                "STREAMS",
                "SUCCEEDED",
                "FAILED",
                "MSGS SENT",
                "RECEIVED",
                "LAST STREAM",
                "SECURITY",
            ],
            &rows,
        );
    }
    let _ = writeln!(out, "\nchannels ({})", channels.len());
    if !channels.is_empty() {
        let rows: Vec<Vec<String>> = channels
            .iter()
            .map(|channel| {
                let data = channel.data.clone().unwrap_or_default();
                vec![
                    channel
                        .r#ref
                        .as_ref()
                        .map_or(0, |r| r.channel_id)
                        .to_string(),
                    if data.target.is_empty() {
                        "-".to_owned()
                    } else {
                        data.target.clone()
                    },
                    state_name(channel.data.as_ref()).to_owned(),
                    data.calls_started.to_string(),
                    data.calls_succeeded.to_string(),
                    data.calls_failed.to_string(),
                    when(data.last_call_started_timestamp.as_ref()),
                ]
            })
            .collect();
        table(
            &mut out,
            "  ",
            &[
                "ID",
                "TARGET",
                "STATE",
                "STARTED",
                "SUCCEEDED",
                "FAILED",
                "LAST CALL",
            ],
            &rows,
        );
    }
    for (channel, subchannels) in channels.iter().zip(subchannels) {
        if subchannels.is_empty() {
            continue;
        }
        let id = channel.r#ref.as_ref().map_or(0, |r| r.channel_id);
        let _ = writeln!(out, "\nsubchannels of channel {id} ({})", subchannels.len());
        let rows: Vec<Vec<String>> = subchannels
            .iter()
            .map(|subchannel| {
                let data = subchannel.data.clone().unwrap_or_default();
                vec![
                    subchannel
                        .r#ref
                        .as_ref()
                        .map_or(0, |r| r.subchannel_id)
                        .to_string(),
                    if data.target.is_empty() {
                        "-".to_owned()
                    } else {
                        data.target.clone()
                    },
                    state_name(Some(&data)).to_owned(),
                ]
            })
            .collect();
        table(&mut out, "  ", &["ID", "ADDRESS", "STATE"], &rows);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern::services::channelz::proto::address::{OtherAddress, TcpIpAddress, UdsAddress};

    fn tcp(ip: Vec<u8>, port: i32) -> Address {
        Address {
            address: Some(AddressKind::TcpipAddress(TcpIpAddress {
                ip_address: ip,
                port,
            })),
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(
            address(Some(&tcp(vec![127, 0, 0, 1], 5000))),
            "127.0.0.1:5000"
        );
        let mut v6 = vec![0; 16];
        v6[15] = 1;
        assert_eq!(address(Some(&tcp(v6, 443))), "[::1]:443");
        assert_eq!(address(Some(&tcp(vec![10, 0, 0, 1], -1))), "10.0.0.1");
        assert_eq!(address(Some(&tcp(vec![1, 2], 1))), "?");
        let uds = Address {
            address: Some(AddressKind::UdsAddress(UdsAddress {
                filename: "/run/x.sock".into(),
            })),
        };
        assert_eq!(address(Some(&uds)), "unix:/run/x.sock");
        let other = Address {
            address: Some(AddressKind::OtherAddress(OtherAddress {
                name: "memory".into(),
                value: None,
            })),
        };
        assert_eq!(address(Some(&other)), "memory");
        assert_eq!(address(None), "-");
    }

    #[test]
    fn security_names_the_cipher_suite() {
        use tern::services::channelz::proto::security::{tls::CipherSuite, Model, Tls};
        use tern::services::channelz::proto::Security;
        let mut socket = Socket::default();
        assert_eq!(security(&socket), "-");
        socket.security = Some(Security {
            model: Some(Model::Tls(Tls {
                cipher_suite: Some(CipherSuite::StandardName("TLS13_AES_256_GCM_SHA384".into())),
                ..Default::default()
            })),
        });
        assert_eq!(security(&socket), "TLS13_AES_256_GCM_SHA384");
    }

    #[test]
    fn times_to_the_second() {
        let t = tern::codegen::prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 123_456_789,
        };
        assert_eq!(when(Some(&t)), "2023-11-14T22:13:20Z");
        assert_eq!(when(None), "-");
    }

    #[test]
    fn columns_line_up() {
        let mut out = String::new();
        table(
            &mut out,
            "  ",
            &["ID", "NAME", "LAST"],
            &[
                vec!["1".into(), "a-long-name".into(), "x".into()],
                vec!["22".into(), "b".into(), "-".into()],
            ],
        );
        assert_eq!(
            out,
            "  ID  NAME         LAST\n  1   a-long-name  x\n  22  b            -\n"
        );
    }
}
