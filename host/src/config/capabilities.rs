//! What a plugin may reach beyond weir. Nothing by default: no files, sockets,
//! environment or network. A manifest (or `[plugins.NAME.capabilities]`, which
//! replaces it) may grant outbound HTTP to listed hosts.

use std::str::FromStr;

use serde::Deserialize;

/// The `[capabilities]` table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCapabilities {
    http: Option<Vec<String>>,
}

/// One host a plugin may send HTTP requests to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpGrant {
    /// The host name or IP address, lowercase.
    pub host: String,
    /// The one port allowed; `None`: the default ports, 80 and 443.
    pub port: Option<u16>,
}

/// What a plugin was granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Hosts it may send HTTP requests to; empty: none.
    pub http: Vec<HttpGrant>,
}

impl Capabilities {
    /// Whether a request to `host`:`port` is granted.
    pub fn allows_http(&self, host: &str, port: u16) -> bool {
        self.http.iter().any(|grant| {
            grant.host.eq_ignore_ascii_case(host)
                && grant
                    .port
                    .map_or(port == 80 || port == 443, |allowed| allowed == port)
        })
    }
}

/// The capabilities of a plugin: `section`'s grants if it states any, else
/// `manifest`'s; `origin` names where they came from, for errors.
pub(super) fn resolve(
    manifest: &RawCapabilities,
    section: Option<&RawCapabilities>,
    manifest_origin: &str,
    section_origin: &str,
) -> Result<Capabilities, String> {
    let (hosts, origin) = match section.and_then(|section| section.http.as_ref()) {
        Some(hosts) => (hosts, section_origin),
        None => match &manifest.http {
            Some(hosts) => (hosts, manifest_origin),
            None => return Ok(Capabilities::default()),
        },
    };
    let http = hosts
        .iter()
        .map(|entry| {
            parse_grant(entry)
                .map_err(|why| format!("{origin}: capabilities.http entry {entry:?} {why}"))
        })
        .collect::<Result<_, _>>()?;
    Ok(Capabilities { http })
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

    fn granted(hosts: &[&str]) -> Result<Capabilities, String> {
        let raw = RawCapabilities {
            http: Some(hosts.iter().map(|h| (*h).to_owned()).collect()),
        };
        resolve(&raw, None, "p.toml", "plugins.p")
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
                error.contains("p.toml") && error.contains("capabilities.http"),
                "{error}"
            );
        }
    }

    #[test]
    fn weir_toml_replaces_the_manifests_grants() {
        let manifest = RawCapabilities {
            http: Some(vec!["api.example.com".to_owned()]),
        };
        let section = RawCapabilities {
            http: Some(Vec::new()),
        };
        let resolved = resolve(&manifest, Some(&section), "p.toml", "plugins.p").expect("valid");
        assert_eq!(resolved, Capabilities::default(), "the operator revoked it");
    }
}
