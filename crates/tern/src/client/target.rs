//! Target URIs: the strings a [`Channel`](crate::Channel) is made from, in every form gRPC's
//! naming document gives, and what each one means — which addresses to resolve (and how), the
//! `:authority` calls carry, and whether the target asked for TLS.
//!
//! | target | resolved by | default `:authority` |
//! | --- | --- | --- |
//! | `dns:///host:port`, `dns:host:port` | the system resolver (port 443 if none) | `host:port` |
//! | `dns://dns-server:53/host:port` | the system resolver; the DNS server is recorded, not used | `host:port` |
//! | `http://host:port`, bare `host:port` | the system resolver (port 80 if none), cleartext | `host:port` |
//! | `https://host:port` | the system resolver (port 443 if none), TLS | `host:port` |
//! | `unix:path`, `unix:///abs/path` | a Unix domain socket | `localhost` |
//! | `unix-abstract:name` | a Linux abstract socket (a NUL byte then `name`) | `localhost` |
//! | `ipv4:a:p,b:p`, `ipv6:[a]:p,[b]:p` | the listed addresses (port 443 if none) | the first address |
//!
//! gRPC's `dns:` scheme lets the target name a DNS server. Tern resolves through the system's
//! resolver (`getaddrinfo`), so that server is kept (and logged) but not asked; use a
//! [`Resolver`](super::Resolver) of your own to query a particular server.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use http::uri::{Authority, Uri};

use super::resolver::Address;
use crate::error::{Error, ErrorKind};

/// What a target names, before resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// A name for DNS (or an IP literal, which resolves to itself).
    Dns {
        /// The DNS server the target named (`dns://server/...`), if any: recorded, not used.
        dns_server: Option<String>,
        host: String,
        port: u16,
    },
    /// Addresses given in the target itself: `unix:`, `unix-abstract:`, `ipv4:`, `ipv6:`.
    Fixed(Vec<Address>),
}

/// A parsed target: what to resolve, the `:authority` to send and whether TLS was asked for.
#[derive(Clone, Debug)]
pub(crate) struct ParsedTarget {
    pub(crate) target: Target,
    pub(crate) authority: Authority,
    /// The name TLS checks in the server's certificate, unless overridden.
    pub(crate) tls_name: String,
    /// The target asked for TLS (`https://`).
    pub(crate) secure: bool,
}

fn invalid(why: String) -> Error {
    Error::msg(ErrorKind::InvalidAddress, why)
}

/// Parses a target in any of the forms in the module's table.
pub(crate) fn parse(target: &str) -> Result<ParsedTarget, Error> {
    if let Some(name) = target.strip_prefix("unix-abstract:") {
        return parse_unix_abstract(target, name);
    }
    if let Some(path) = target.strip_prefix("unix:") {
        return parse_unix(target, path);
    }
    if let Some(rest) = target.strip_prefix("dns:") {
        return parse_dns(target, rest);
    }
    if let Some(list) = target.strip_prefix("ipv4:") {
        return parse_ip_list(target, list, false);
    }
    if let Some(list) = target.strip_prefix("ipv6:") {
        return parse_ip_list(target, list, true);
    }
    parse_http(target)
}

fn local(target: Target) -> ParsedTarget {
    ParsedTarget {
        target,
        authority: Authority::from_static("localhost"),
        tls_name: "localhost".to_owned(),
        secure: false,
    }
}

/// `unix:relative/or/absolute` and `unix:///absolute`.
fn parse_unix(target: &str, path: &str) -> Result<ParsedTarget, Error> {
    let path = match path.strip_prefix("//") {
        Some(absolute) if absolute.starts_with('/') => absolute,
        Some(_) => {
            return Err(invalid(format!(
                "target {target:?}: unix:// needs an absolute path, with three slashes in all \
                 (unix:///run/app.sock); unix:path takes a relative one"
            )))
        }
        None => path,
    };
    if path.is_empty() {
        return Err(invalid(format!("no socket path in target {target:?}")));
    }
    Ok(local(Target::Fixed(vec![Address::Unix(PathBuf::from(
        path,
    ))])))
}

/// `unix-abstract:name`: a socket in Linux's abstract namespace.
fn parse_unix_abstract(target: &str, name: &str) -> Result<ParsedTarget, Error> {
    if !cfg!(target_os = "linux") {
        return Err(invalid(format!(
            "target {target:?}: abstract Unix sockets exist only on Linux"
        )));
    }
    if name.is_empty() {
        return Err(invalid(format!(
            "no socket name in target {target:?} (unix-abstract:NAME)"
        )));
    }
    Ok(local(Target::Fixed(vec![Address::UnixAbstract(
        name.as_bytes().to_vec(),
    )])))
}

/// `dns:host[:port]`, `dns:///host[:port]` and `dns://dns-server/host[:port]`.
fn parse_dns(target: &str, rest: &str) -> Result<ParsedTarget, Error> {
    let (dns_server, endpoint) = match rest.strip_prefix("//") {
        Some(rest) => {
            let Some((server, endpoint)) = rest.split_once('/') else {
                return Err(invalid(format!(
                    "target {target:?} has a DNS server but no host: write \
                     dns:///host:port, or dns://dns-server:53/host:port"
                )));
            };
            let server = (!server.is_empty()).then(|| server.to_owned());
            (server, endpoint)
        }
        None => (None, rest),
    };
    if let Some(server) = &dns_server {
        tracing::debug!(
            target_uri = target,
            dns_server = %server,
            "the target names a DNS server; Tern asks the system's resolver instead"
        );
    }
    let (host, port) = host_port(target, endpoint, 443)?;
    let authority = authority(target, endpoint)?;
    Ok(ParsedTarget {
        target: Target::Dns {
            dns_server,
            host: host.clone(),
            port,
        },
        authority,
        tls_name: host,
        secure: false,
    })
}

/// `http://host[:port]`, `https://host[:port]` and a bare `host[:port]` (cleartext).
fn parse_http(target: &str) -> Result<ParsedTarget, Error> {
    let with_scheme;
    let uri_text = if target.contains("://") {
        target
    } else {
        with_scheme = format!("http://{target}");
        &with_scheme
    };
    let uri: Uri = uri_text.parse().map_err(|e| {
        Error::new(
            ErrorKind::InvalidAddress,
            format!("invalid target {target:?}"),
            e,
        )
    })?;
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") if cfg!(feature = "tls-core") => true,
        Some("https") => {
            return Err(invalid(format!(
                "{target:?} needs TLS, and this build of tern has none (cargo feature `tls`)"
            )))
        }
        _ => {
            return Err(invalid(format!(
                "unsupported scheme in {target:?}: use dns:, http:// (cleartext HTTP/2), \
                 https:// (TLS), unix:, unix-abstract:, ipv4: or ipv6:"
            )))
        }
    };
    let authority = uri
        .authority()
        .cloned()
        .filter(|a| !a.host().is_empty())
        .ok_or_else(|| invalid(format!("no host in target {target:?}")))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = match authority.port() {
        Some(port) => port.as_u16(),
        None if authority.as_str().ends_with(':') => {
            return Err(invalid(format!("empty port in target {target:?}")))
        }
        None => {
            if secure {
                443
            } else {
                80
            }
        }
    };
    Ok(ParsedTarget {
        target: Target::Dns {
            dns_server: None,
            host: host.clone(),
            port,
        },
        authority,
        tls_name: host,
        secure,
    })
}

/// `ipv4:a[:port][,b[:port]...]` and `ipv6:[a]:port,...` (or a bare IPv6 address, port 443).
fn parse_ip_list(target: &str, list: &str, v6: bool) -> Result<ParsedTarget, Error> {
    let family = if v6 { "ipv6" } else { "ipv4" };
    if list.is_empty() {
        return Err(invalid(format!("no addresses in target {target:?}")));
    }
    let mut addresses = Vec::new();
    for item in list.split(',') {
        let bad = |why: &str| invalid(format!("target {target:?}: {item:?} {why}"));
        if item.is_empty() {
            return Err(invalid(format!("target {target:?} has an empty address")));
        }
        let addr = if v6 {
            if let Some(rest) = item.strip_prefix('[') {
                let (ip, after) = rest
                    .split_once(']')
                    .ok_or_else(|| bad("has no closing ']'"))?;
                let ip: Ipv6Addr = ip.parse().map_err(|_| bad("is not an IPv6 address"))?;
                let port = match after {
                    "" => 443,
                    _ => {
                        let port = after
                            .strip_prefix(':')
                            .ok_or_else(|| bad("has something after ']' that is not ':port'"))?;
                        parse_port(port).ok_or_else(|| bad("has an invalid port"))?
                    }
                };
                SocketAddr::new(IpAddr::V6(ip), port)
            } else {
                let ip: Ipv6Addr = item.parse().map_err(|_| {
                    bad("is not an IPv6 address (with a port, write it as [addr]:port)")
                })?;
                SocketAddr::new(IpAddr::V6(ip), 443)
            }
        } else {
            let (ip, port) = match item.split_once(':') {
                Some((ip, port)) => (
                    ip,
                    parse_port(port).ok_or_else(|| bad("has an invalid port"))?,
                ),
                None => (item, 443),
            };
            let ip: Ipv4Addr = ip.parse().map_err(|_| bad("is not an IPv4 address"))?;
            SocketAddr::new(IpAddr::V4(ip), port)
        };
        addresses.push(Address::Tcp(addr));
    }
    let first = addresses
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    let authority = first.parse().map_err(|e| {
        Error::new(
            ErrorKind::InvalidAddress,
            format!("target {target:?}: {family} address {first} is not an authority"),
            e,
        )
    })?;
    let tls_name = match addresses.first() {
        Some(Address::Tcp(addr)) => addr.ip().to_string(),
        _ => first,
    };
    Ok(ParsedTarget {
        target: Target::Fixed(addresses),
        authority,
        tls_name,
        secure: false,
    })
}

fn parse_port(port: &str) -> Option<u16> {
    // u16's parser takes a leading '+'; a port is digits only.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    port.parse().ok()
}

/// Splits `host[:port]` or `[v6]:port`, with `default` when there is no port.
fn host_port(target: &str, endpoint: &str, default: u16) -> Result<(String, u16), Error> {
    if endpoint.is_empty() {
        return Err(invalid(format!("no host in target {target:?}")));
    }
    if let Some(rest) = endpoint.strip_prefix('[') {
        let (ip, after) = rest.split_once(']').ok_or_else(|| {
            invalid(format!(
                "target {target:?}: the IPv6 address has no closing ']'"
            ))
        })?;
        if ip.parse::<Ipv6Addr>().is_err() {
            return Err(invalid(format!(
                "target {target:?}: [{ip}] is not an IPv6 address"
            )));
        }
        let port = match after {
            "" => default,
            _ => after
                .strip_prefix(':')
                .and_then(parse_port)
                .ok_or_else(|| invalid(format!("target {target:?}: invalid port after [{ip}]")))?,
        };
        return Ok((ip.to_owned(), port));
    }
    let (host, port) = match endpoint.rsplit_once(':') {
        Some((host, _)) if host.contains(':') => {
            return Err(invalid(format!(
                "target {target:?}: an IPv6 address needs brackets ([::1]:50051)"
            )))
        }
        Some((host, port)) => (
            host,
            parse_port(port)
                .ok_or_else(|| invalid(format!("target {target:?}: invalid port {port:?}")))?,
        ),
        None => (endpoint, default),
    };
    if host.is_empty() {
        return Err(invalid(format!("no host in target {target:?}")));
    }
    Ok((host.to_owned(), port))
}

fn authority(target: &str, endpoint: &str) -> Result<Authority, Error> {
    let authority: Authority = endpoint.parse().map_err(|e| {
        Error::new(
            ErrorKind::InvalidAddress,
            format!("target {target:?}: {endpoint:?} is not a valid host"),
            e,
        )
    })?;
    if endpoint.contains('@') {
        return Err(invalid(format!(
            "target {target:?}: user information (user@host) is not allowed"
        )));
    }
    Ok(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dns(target: &str) -> (Option<String>, String, u16, String, bool) {
        let parsed = parse(target).unwrap();
        match parsed.target {
            Target::Dns {
                dns_server,
                host,
                port,
            } => (
                dns_server,
                host,
                port,
                parsed.authority.to_string(),
                parsed.secure,
            ),
            other => panic!("{target}: not dns: {other:?}"),
        }
    }

    fn fixed(target: &str) -> (Vec<Address>, String) {
        let parsed = parse(target).unwrap();
        match parsed.target {
            Target::Fixed(addresses) => (addresses, parsed.authority.to_string()),
            other => panic!("{target}: not fixed: {other:?}"),
        }
    }

    fn error(target: &str) -> String {
        let err = parse(target).expect_err(target);
        assert_eq!(err.kind(), ErrorKind::InvalidAddress, "{target}");
        err.to_string()
    }

    fn tcp(s: &str) -> Address {
        Address::Tcp(s.parse().unwrap())
    }

    #[test]
    fn dns_forms() {
        let plain = |host: &str, port, authority: &str| {
            (None, host.to_owned(), port, authority.to_owned(), false)
        };
        assert_eq!(
            dns("dns:///example.com:50051"),
            plain("example.com", 50051, "example.com:50051")
        );
        assert_eq!(
            dns("dns:example.com:8080"),
            plain("example.com", 8080, "example.com:8080")
        );
        // No port: 443, as gRPC's naming document says.
        assert_eq!(
            dns("dns:///example.com"),
            plain("example.com", 443, "example.com")
        );
        assert_eq!(dns("dns:[::1]:5000"), plain("::1", 5000, "[::1]:5000"));
        assert_eq!(dns("dns:///[::1]"), plain("::1", 443, "[::1]"));
        // A DNS server in the authority is recorded.
        assert_eq!(
            dns("dns://8.8.8.8:53/example.com:50051"),
            (
                Some("8.8.8.8:53".to_owned()),
                "example.com".to_owned(),
                50051,
                "example.com:50051".to_owned(),
                false
            )
        );
        assert_eq!(parse("dns:///example.com").unwrap().tls_name, "example.com");
    }

    #[test]
    fn todays_forms_map_onto_dns() {
        let plain = |host: &str, port, authority: &str, secure| {
            (None, host.to_owned(), port, authority.to_owned(), secure)
        };
        assert_eq!(
            dns("http://127.0.0.1:5000"),
            plain("127.0.0.1", 5000, "127.0.0.1:5000", false)
        );
        assert_eq!(
            dns("http://example.com"),
            plain("example.com", 80, "example.com", false)
        );
        assert_eq!(
            dns("localhost:50051"),
            plain("localhost", 50051, "localhost:50051", false)
        );
        assert_eq!(
            dns("example.com"),
            plain("example.com", 80, "example.com", false)
        );
        assert_eq!(dns("[::1]:7"), plain("::1", 7, "[::1]:7", false));
        #[cfg(feature = "tls-core")]
        assert_eq!(
            dns("https://api.example.com"),
            plain("api.example.com", 443, "api.example.com", true)
        );
    }

    #[test]
    fn unix_forms() {
        assert_eq!(
            fixed("unix:relative/app.sock"),
            (
                vec![Address::Unix("relative/app.sock".into())],
                "localhost".to_owned()
            )
        );
        assert_eq!(
            fixed("unix:/run/app.sock").0,
            vec![Address::Unix("/run/app.sock".into())]
        );
        assert_eq!(
            fixed("unix:///run/app.sock").0,
            vec![Address::Unix("/run/app.sock".into())]
        );
        #[cfg(target_os = "linux")]
        assert_eq!(
            fixed("unix-abstract:tern-test"),
            (
                vec![Address::UnixAbstract(b"tern-test".to_vec())],
                "localhost".to_owned()
            )
        );
    }

    #[test]
    fn ip_lists() {
        assert_eq!(
            fixed("ipv4:127.0.0.1:1,127.0.0.2:2,10.0.0.1"),
            (
                vec![tcp("127.0.0.1:1"), tcp("127.0.0.2:2"), tcp("10.0.0.1:443")],
                "127.0.0.1:1".to_owned()
            )
        );
        assert_eq!(
            fixed("ipv6:[::1]:5000,[fe80::1]:6000,::2"),
            (
                vec![tcp("[::1]:5000"), tcp("[fe80::1]:6000"), tcp("[::2]:443")],
                "[::1]:5000".to_owned()
            )
        );
        assert_eq!(parse("ipv4:127.0.0.1:1").unwrap().tls_name, "127.0.0.1");
        assert_eq!(parse("ipv6:[::1]").unwrap().tls_name, "::1");
    }

    #[test]
    fn bad_targets_say_what_is_wrong() {
        assert!(error("unix:").contains("no socket path"));
        assert!(error("unix://relative").contains("absolute path"));
        #[cfg(target_os = "linux")]
        assert!(error("unix-abstract:").contains("no socket name"));
        assert!(error("dns:").contains("no host"));
        assert!(error("dns:///").contains("no host"));
        assert!(error("dns://8.8.8.8").contains("no host"));
        assert!(error("dns:///host:port").contains("invalid port"));
        assert!(error("dns:///host:99999").contains("invalid port"));
        assert!(error("dns:///host:+5").contains("invalid port"));
        assert!(error("dns:::1:5").contains("brackets"));
        assert!(error("dns:[::1:5").contains("closing"));
        assert!(error("dns:[nope]:5").contains("not an IPv6"));
        assert!(error("dns:///user@host:5").contains("user information"));
        assert!(error("ipv4:").contains("no addresses"));
        assert!(error("ipv4:127.0.0.1:1,").contains("empty address"));
        assert!(error("ipv4:example.com:1").contains("not an IPv4"));
        assert!(error("ipv4:127.0.0.1:x").contains("invalid port"));
        assert!(error("ipv6:[::1]:x").contains("invalid port"));
        assert!(error("ipv6:[::1").contains("closing"));
        assert!(error("ipv6:127.0.0.1").contains("not an IPv6"));
        assert!(error("ipv6:[::1]5").contains("':port'"));
        assert!(error("ftp://example.com").contains("unsupported scheme"));
        assert!(
            error("http://").contains("invalid target") || error("http://").contains("no host")
        );
        assert!(error("http://host:").contains("empty port"));
        assert!(error("a b:5").contains("invalid target"));
    }
}
