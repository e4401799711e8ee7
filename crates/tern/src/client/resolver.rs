//! Name resolution: turning a target into the addresses a channel connects to.
//!
//! A [`Resolver`] is asked for the whole list of addresses when the channel first needs them,
//! and asked again when a connection is lost, a server sends GOAWAY or every address has failed
//! — never more often than the channel's minimum re-resolution interval (30 s by default,
//! [`ChannelBuilder::min_resolution_interval`](super::ChannelBuilder::min_resolution_interval)).
//! The channel then keeps the connections to addresses still listed, connects to new ones and
//! drops the others.
//!
//! Tern ships a [`DnsResolver`], through the system's resolver (`getaddrinfo` on one of tokio's
//! blocking threads, so `/etc/hosts`, `nsswitch` and search domains apply as for any program),
//! and a [`StaticResolver`] for fixed lists; implement the trait for service discovery of your
//! own and give it to [`ChannelBuilder::resolver`](super::ChannelBuilder::resolver).

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;

/// Why a resolution failed, as the resolver says it.
pub type ResolveError = Box<dyn std::error::Error + Send + Sync>;

/// What [`Resolver::resolve`] returns: a boxed future of the addresses, so that the trait can be
/// used as `dyn Resolver`.
pub type ResolveFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<Address>, ResolveError>> + Send + 'a>>;

/// Where one server listens.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix domain socket's path.
    Unix(PathBuf),
    /// A Linux abstract socket's name (without the leading NUL byte).
    UnixAbstract(Vec<u8>),
}

impl From<SocketAddr> for Address {
    fn from(addr: SocketAddr) -> Address {
        Address::Tcp(addr)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp(addr) => write!(f, "{addr}"),
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::UnixAbstract(name) => {
                write!(f, "unix-abstract:{}", String::from_utf8_lossy(name))
            }
        }
    }
}

/// Finds the addresses of a channel's servers.
///
/// ```
/// use tern::client::{Address, ResolveFuture, Resolver};
///
/// /// Addresses from a registry of our own.
/// #[derive(Debug)]
/// struct Registry;
///
/// impl Resolver for Registry {
///     fn resolve(&self) -> ResolveFuture<'_> {
///         Box::pin(async {
///             let found: Vec<std::net::SocketAddr> = vec!["127.0.0.1:5001".parse()?];
///             Ok(found.into_iter().map(Address::from).collect())
///         })
///     }
/// }
///
/// # fn f() -> Result<(), tern::Error> {
/// let channel = tern::Channel::builder("dns:///orders.internal:443")?
///     .resolver(Registry)
///     .lazy();
/// # Ok(()) }
/// ```
pub trait Resolver: Send + Sync + fmt::Debug + 'static {
    /// Resolves now, giving every address, in the order the load-balancing policy should try
    /// them. Called off the calls' path, by the channel's own task: once when the channel first
    /// needs addresses and again on each re-resolution. An error, or no address at all, leaves
    /// the channel with the addresses it had (or in TRANSIENT_FAILURE, with none yet).
    fn resolve(&self) -> ResolveFuture<'_>;
}

/// A fixed list of addresses.
#[derive(Clone, Debug)]
pub struct StaticResolver {
    addresses: Vec<Address>,
}

impl StaticResolver {
    /// Always answers with these addresses.
    pub fn new(addresses: impl IntoIterator<Item = impl Into<Address>>) -> StaticResolver {
        StaticResolver {
            addresses: addresses.into_iter().map(Into::into).collect(),
        }
    }
}

impl Resolver for StaticResolver {
    fn resolve(&self) -> ResolveFuture<'_> {
        Box::pin(async move { Ok(self.addresses.clone()) })
    }
}

/// DNS through the system's resolver: tokio's `lookup_host`, which runs `getaddrinfo` on a
/// blocking thread. Every address it returns (A and AAAA) is used, in its order.
#[derive(Clone, Debug)]
pub struct DnsResolver {
    host: String,
    port: u16,
}

impl DnsResolver {
    /// Resolves `host` (a name or an IP literal), connecting to `port` on each address.
    pub fn new(host: impl Into<String>, port: u16) -> DnsResolver {
        DnsResolver {
            host: host.into(),
            port,
        }
    }
}

impl Resolver for DnsResolver {
    fn resolve(&self) -> ResolveFuture<'_> {
        Box::pin(async move {
            let found = tokio::net::lookup_host((self.host.as_str(), self.port)).await?;
            let mut addresses: Vec<Address> = Vec::new();
            for addr in found {
                let addr = Address::Tcp(addr);
                if !addresses.contains(&addr) {
                    addresses.push(addr);
                }
            }
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn static_and_dns() {
        let fixed = StaticResolver::new(["127.0.0.1:1".parse::<SocketAddr>().unwrap()]);
        assert_eq!(
            fixed.resolve().await.unwrap(),
            vec![Address::Tcp("127.0.0.1:1".parse().unwrap())]
        );
        // An IP literal resolves to itself; localhost to a loopback address.
        let literal = DnsResolver::new("127.0.0.1", 7).resolve().await.unwrap();
        assert_eq!(literal, vec![Address::Tcp("127.0.0.1:7".parse().unwrap())]);
        let local = DnsResolver::new("localhost", 7).resolve().await.unwrap();
        assert!(!local.is_empty());
        for addr in local {
            assert!(
                matches!(&addr, Address::Tcp(a) if a.ip().is_loopback() && a.port() == 7),
                "{addr}"
            );
        }
        assert!(DnsResolver::new("no such host.invalid", 7)
            .resolve()
            .await
            .is_err());
    }

    #[test]
    fn addresses_display_as_targets() {
        assert_eq!(
            Address::Tcp("[::1]:5".parse().unwrap()).to_string(),
            "[::1]:5"
        );
        assert_eq!(Address::Unix("/a/b".into()).to_string(), "unix:/a/b");
        assert_eq!(
            Address::UnixAbstract(b"x".to_vec()).to_string(),
            "unix-abstract:x"
        );
    }
}
