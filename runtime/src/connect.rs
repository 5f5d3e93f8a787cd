//! Where a plugin's outbound request may go. The host is resolved once, and
//! the request refused if any address it resolved to is reserved
//! (`destination.rs`) and not listed by the operator as that very address;
//! a [`Transport`] then connects to an address checked here: a name cannot
//! pass the check with one answer and connect with another (DNS rebinding),
//! and a name or a numeric spelling (`2130706433`, `localhost`) cannot stand
//! in for loopback.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use wasmtime_wasi_http::{Error, WasiBody};

use super::destination::{self, Reserved};
use crate::capabilities::Capabilities;

/// Where a request goes, as its URI names it.
pub struct Target {
    /// The host as the URI writes it (an IPv6 address in brackets).
    pub host: String,
    /// The port, explicit or the scheme's default.
    pub port: u16,
    /// Whether it speaks TLS (`https`).
    pub tls: bool,
}

impl Target {
    /// The host without the brackets of an IPv6 address: what a resolver
    /// and a TLS server name take.
    pub fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// Why a request was refused before a connection was made.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// The host resolved to an address plugins may not reach.
    #[error(
        "destination {} is {why}; grant the exact address in weir.toml to allow it (capabilities.http = [\"{address}\"])",
        .address.ip()
    )]
    Reserved {
        /// The address and the port asked for.
        address: SocketAddr,
        /// The rule.
        why: Reserved,
    },
    /// The host did not resolve.
    #[error("cannot resolve {host}: {cause}")]
    Unresolved {
        /// The host.
        host: String,
        /// Why.
        cause: String,
    },
    /// Resolving took longer than the connect timeout.
    #[error("resolving {0} timed out")]
    ResolveTimeout(String),
}

impl Refused {
    /// What the guest is told (`wasi:http`'s error code).
    pub fn code(&self) -> Error {
        match self {
            Refused::Reserved { .. } => Error::DestinationIpProhibited,
            Refused::Unresolved { cause, .. } => Error::DnsError {
                rcode: Some(cause.clone()),
                info_code: None,
            },
            Refused::ResolveTimeout(_) => Error::DnsTimeout,
        }
    }
}

/// The addresses of `target`, every one checked against the reserved
/// ranges and `capabilities`; resolving waits at most `timeout`.
pub async fn resolve(
    target: &Target,
    capabilities: &Capabilities,
    timeout: Duration,
) -> Result<Vec<SocketAddr>, Refused> {
    let host = target.bare_host();
    let lookup = tokio::net::lookup_host((host, target.port));
    let addresses: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
        Err(_) => return Err(Refused::ResolveTimeout(host.to_owned())),
        Ok(Err(error)) => {
            return Err(Refused::Unresolved {
                host: host.to_owned(),
                cause: error.to_string(),
            });
        }
        Ok(Ok(found)) => found.collect(),
    };
    if addresses.is_empty() {
        return Err(Refused::Unresolved {
            host: host.to_owned(),
            cause: "no addresses".to_owned(),
        });
    }
    // Every answer, not just the first: a name that also resolves to an
    // internal address is refused whichever one a retry would pick.
    for address in &addresses {
        let ip = address.ip();
        if let Some(why) = destination::reserved(ip)
            && !capabilities.grants_address(ip, target.port)
        {
            return Err(Refused::Reserved {
                address: *address,
                why,
            });
        }
    }
    Ok(addresses)
}

/// What a sent request resolves to, as `wasi:http` expects it.
pub type Sent = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), Error>> + Send>,
    ),
    Error,
>;

/// Timeouts of one request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Connecting, TLS and the HTTP handshake, each.
    pub connect: Duration,
    /// Until the response head arrives.
    pub first_byte: Duration,
}

/// Carries a request the runtime has checked to one of the addresses it
/// checked. TLS and HTTP/1.1 are the transport's; which host and addresses
/// may be reached is not, so a transport must never resolve `target` again.
pub trait Transport: Send + Sync + 'static {
    /// Sends `request` to the first of `addresses` that accepts a connection.
    fn send(
        &self,
        request: http::Request<WasiBody>,
        target: Target,
        addresses: Vec<SocketAddr>,
        timeouts: Timeouts,
    ) -> Pin<Box<dyn Future<Output = Sent> + Send>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str) -> Target {
        Target {
            host: host.to_owned(),
            port: 8080,
            tls: false,
        }
    }

    fn granting(host: &str) -> Capabilities {
        Capabilities {
            http: vec![crate::capabilities::HttpGrant {
                host: host.to_owned(),
                port: Some(8080),
            }],
            requested_http: Vec::new(),
        }
    }

    #[tokio::test]
    async fn every_spelling_of_loopback_is_refused_and_the_exact_address_is_not() {
        let none = Capabilities::default();
        let wait = Duration::from_secs(5);
        for host in [
            "127.0.0.1",
            "localhost",
            "2130706433",
            "127.1",
            "[::1]",
            "[::ffff:127.0.0.1]",
        ] {
            let refused = resolve(&target(host), &none, wait).await.expect_err(host);
            assert!(
                matches!(
                    refused,
                    Refused::Reserved {
                        why: Reserved::Loopback,
                        ..
                    }
                ),
                "{host}: {refused}"
            );
            assert!(
                refused
                    .to_string()
                    .contains("is loopback; grant the exact address in weir.toml"),
                "{refused}"
            );
        }
        let exact = granting("127.0.0.1");
        let allowed = resolve(&target("127.0.0.1"), &exact, wait)
            .await
            .expect("granted");
        assert_eq!(
            allowed,
            ["127.0.0.1:8080".parse::<SocketAddr>().expect("address")]
        );
        // The exact address, not a name for it.
        let named = granting("localhost");
        assert!(resolve(&target("localhost"), &named, wait).await.is_err());
    }
}
