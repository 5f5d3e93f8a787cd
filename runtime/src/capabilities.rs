//! What a plugin may reach beyond weir. Nothing by default: no files, sockets,
//! environment or network. Capabilities are the operator's: a plugin's own
//! manifest may only *request* outbound HTTP hosts (`[capabilities] http`),
//! and only `[plugins.NAME.capabilities]` in `weir.toml` grants them. A
//! plugin file from anyone can be dropped into the plugin directory, so what
//! it asks for must never be what it gets.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

/// The `[capabilities]` table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCapabilities {
    http: Option<Vec<String>>,
}

/// One host a plugin may send HTTP requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    /// The host name or IP address, lowercase; an IPv6 address in brackets,
    /// as a URI writes it.
    pub host: String,
    /// The one port allowed; `None`: the default ports, 80 and 443.
    pub port: Option<u16>,
}

impl HttpGrant {
    /// Whether `port` is one this grant allows.
    fn allows_port(&self, port: u16) -> bool {
        self.port
            .map_or(port == 80 || port == 443, |allowed| allowed == port)
    }

    /// The address, if the grant names an IP literal rather than a host name.
    pub fn ip(&self) -> Option<IpAddr> {
        let bare = self
            .host
            .strip_prefix('[')
            .and_then(|host| host.strip_suffix(']'))
            .unwrap_or(&self.host);
        bare.parse().ok()
    }
}

impl fmt::Display for HttpGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// What a plugin was granted, and what it asked for beyond that.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Hosts it may send HTTP requests to, as `weir.toml` grants them; empty: none.
    pub http: Vec<HttpGrant>,
    /// Hosts its manifest requests that `weir.toml` does not grant: shown to
    /// the operator (log, `GET /v1/plugins`), never reachable.
    pub requested_http: Vec<HttpGrant>,
}

impl Capabilities {
    /// Whether a request to `host`:`port` is granted (`host` as a URI writes it).
    pub fn allows_http(&self, host: &str, port: u16) -> bool {
        self.http
            .iter()
            .any(|grant| grant.host.eq_ignore_ascii_case(host) && grant.allows_port(port))
    }

    /// Whether a grant lists `ip` itself (not a name resolving to it) for
    /// `port`: the one way to reach a loopback, private or link-local address.
    pub fn grants_address(&self, ip: IpAddr, port: u16) -> bool {
        self.http
            .iter()
            .any(|grant| grant.ip() == Some(ip) && grant.allows_port(port))
    }

    /// Grants what the manifest requests: for `weir plugin test` and
    /// `check`, where an author runs their own plugin on their own machine.
    pub fn grant_requested(&mut self) {
        self.http.append(&mut self.requested_http);
    }

    /// The warning for a plugin whose manifest requests hosts `weir.toml`
    /// does not grant, naming the hosts and the key that grants them.
    pub fn ungranted_warning(&self, plugin: &str) -> Option<String> {
        if self.requested_http.is_empty() {
            return None;
        }
        let hosts: Vec<String> = self
            .requested_http
            .iter()
            .map(|grant| format!("{:?}", grant.to_string()))
            .collect();
        Some(format!(
            "plugin {plugin} requests outbound HTTP to {hosts} in its manifest, which weir.toml does not grant: its requests there are refused; to grant them, add `[plugins.{plugin}.capabilities] http = [{hosts}]` to weir.toml",
            hosts = hosts.join(", ")
        ))
    }
}

/// The capabilities of a plugin: `section`'s grants, and `manifest`'s
/// requests beyond them; the origins name where each came from, for errors.
pub fn resolve(
    manifest: &RawCapabilities,
    section: Option<&RawCapabilities>,
    manifest_origin: &str,
    section_origin: &str,
) -> Result<Capabilities, String> {
    let http = parse_all(
        section.and_then(|section| section.http.as_deref()),
        section_origin,
    )?;
    let requested_http = parse_all(manifest.http.as_deref(), manifest_origin)?
        .into_iter()
        .filter(|request| !http.contains(request))
        .collect();
    Ok(Capabilities {
        http,
        requested_http,
    })
}

fn parse_all(entries: Option<&[String]>, origin: &str) -> Result<Vec<HttpGrant>, String> {
    entries
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            parse_grant(entry)
                .map_err(|why| format!("{origin}: capabilities.http entry {entry:?} {why}"))
        })
        .collect()
}

/// `host` or `host:port`, nothing else: no scheme, path, user or wildcard.
fn parse_grant(entry: &str) -> Result<HttpGrant, &'static str> {
    if entry.contains("://") || entry.contains(['/', '@', '*', '?', '#']) {
        return Err("must be a host or host:port (no scheme, path, user or wildcard)");
    }
    let authority =
        http::uri::Authority::from_str(entry).map_err(|_| "is not a valid host or host:port")?;
    if authority.host().is_empty() {
        return Err("has no host");
    }
    Ok(HttpGrant {
        host: authority.host().to_ascii_lowercase(),
        port: authority.port_u16(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(hosts: &[&str]) -> RawCapabilities {
        RawCapabilities {
            http: Some(hosts.iter().map(|h| (*h).to_owned()).collect()),
        }
    }

    fn granted(hosts: &[&str]) -> Result<Capabilities, String> {
        resolve(
            &RawCapabilities::default(),
            Some(&raw(hosts)),
            "p.toml",
            "plugins.p",
        )
    }

    #[test]
    fn a_host_allows_its_default_ports_and_a_host_port_only_that_port() {
        let capabilities = granted(&["API.example.com", "127.0.0.1:8080"]).expect("valid");
        assert!(capabilities.allows_http("api.example.com", 443));
        assert!(capabilities.allows_http("api.example.com", 80));
        assert!(!capabilities.allows_http("api.example.com", 8443));
        assert!(capabilities.allows_http("127.0.0.1", 8080));
        assert!(!capabilities.allows_http("127.0.0.1", 80));
        assert!(!capabilities.allows_http("evil.example.com", 443));
        assert!(!Capabilities::default().allows_http("api.example.com", 443));
    }

    #[test]
    fn only_an_ip_literal_grants_its_address() {
        let capabilities = granted(&["localhost:8080", "127.0.0.1:9000", "[::1]"]).expect("valid");
        let loopback: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(
            !capabilities.grants_address(loopback, 8080),
            "a name is not the address"
        );
        assert!(capabilities.grants_address(loopback, 9000));
        assert!(!capabilities.grants_address(loopback, 9001));
        assert!(capabilities.grants_address("::1".parse().expect("ip"), 443));
        assert!(capabilities.allows_http("[::1]", 80));
    }

    #[test]
    fn bad_entries_are_named_with_their_origin() {
        for entry in [
            "https://api.example.com",
            "api.example.com/path",
            "user@host",
            "*.example.com",
            "",
        ] {
            let error = granted(&[entry]).expect_err(entry);
            assert!(
                error.contains("plugins.p") && error.contains("capabilities.http"),
                "{error}"
            );
            let manifest = resolve(&raw(&[entry]), None, "p.toml", "plugins.p").expect_err(entry);
            assert!(manifest.contains("p.toml"), "{manifest}");
        }
    }

    #[test]
    fn a_manifest_requests_and_only_weir_toml_grants() {
        let manifest = raw(&["api.example.com", "127.0.0.1:8080"]);
        let alone = resolve(&manifest, None, "p.toml", "plugins.p").expect("valid");
        assert!(alone.http.is_empty(), "a manifest grants nothing");
        assert!(!alone.allows_http("api.example.com", 443));
        let shown: Vec<String> = alone
            .requested_http
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(shown, ["api.example.com", "127.0.0.1:8080"]);
        let warning = alone.ungranted_warning("p").expect("a warning");
        assert!(
            warning.contains("\"127.0.0.1:8080\"")
                && warning.contains("[plugins.p.capabilities] http"),
            "{warning}"
        );

        let operator = raw(&["api.example.com"]);
        let both = resolve(&manifest, Some(&operator), "p.toml", "plugins.p").expect("valid");
        assert!(both.allows_http("api.example.com", 443));
        assert_eq!(
            both.requested_http.len(),
            1,
            "the granted one is not shown as asked"
        );
        assert!(
            granted(&[])
                .expect("valid")
                .ungranted_warning("p")
                .is_none()
        );
    }
}
