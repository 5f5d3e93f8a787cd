//! `[auth]`: who may call the API. Tokens are kept only as SHA-256 hashes,
//! so the config file holds nothing a reader could send.
//!
//! ```toml
//! [auth]
//! admin_tokens = ["sha256:…"]
//! [auth.tenants]
//! acme = ["sha256:…"]
//! ```
//!
//! Auth is on once a token is listed; `enabled = false` turns it off while
//! keeping them. With no `[auth]` section every caller may do anything, which
//! suits a weir on a laptop.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::ConfigError;
use crate::event::check_tenant;

/// How a token hash is written: the algorithm, then 64 hex digits.
const HASH_PREFIX: &str = "sha256:";

/// The `[auth]` section as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAuth {
    enabled: Option<bool>,
    #[serde(default)]
    admin_tokens: Vec<String>,
    #[serde(default)]
    tenants: BTreeMap<String, Vec<String>>,
}

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Every endpoint, every tenant.
    Admin,
    /// One tenant's events, dead letters and status.
    Tenant(String),
}

/// The API's tokens, by the SHA-256 of each.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    /// Whether a request must carry a known token.
    pub enabled: bool,
    tokens: HashMap<[u8; 32], Principal>,
}

impl Auth {
    /// Checks every hash and that no token is listed twice.
    pub(super) fn resolve(raw: &RawAuth) -> Result<Auth, ConfigError> {
        let mut tokens = HashMap::new();
        let mut add = |entry: &str, key: String, principal: Principal| {
            let hash = parse_hash(entry).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "[auth] {key} is not a token hash: write \"sha256:\" and the 64 hex digits \
                     of the token's SHA-256 (`weir token new` prints a token and its hash)"
                ))
            })?;
            if tokens.insert(hash, principal).is_some() {
                return Err(ConfigError::Invalid(format!(
                    "[auth] {key} is listed twice: a token speaks for one tenant, or for the admin"
                )));
            }
            Ok(())
        };
        for (index, entry) in raw.admin_tokens.iter().enumerate() {
            add(entry, format!("admin_tokens[{index}]"), Principal::Admin)?;
        }
        for (tenant, entries) in &raw.tenants {
            check_tenant(tenant)
                .map_err(|message| ConfigError::Invalid(format!("[auth.tenants] {message}")))?;
            for (index, entry) in entries.iter().enumerate() {
                let key = format!("tenants.{tenant}[{index}]");
                add(entry, key, Principal::Tenant(tenant.clone()))?;
            }
        }
        let enabled = raw.enabled.unwrap_or(!tokens.is_empty());
        if enabled && tokens.is_empty() {
            return Err(ConfigError::Invalid(
                "[auth] enabled = true, but no token is listed: every request would be refused; \
                 add admin_tokens or [auth.tenants]"
                    .into(),
            ));
        }
        Ok(Auth { enabled, tokens })
    }

    /// Who `token` speaks for, if anyone.
    pub fn identify(&self, token: &str) -> Option<&Principal> {
        self.tokens.get(&hash_token(token))
    }
}

/// A new random token: 256 bits, base64url, with a prefix that says whose it is.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    Ok(format!("weir_{}", URL_SAFE_NO_PAD.encode(secret)))
}

/// The SHA-256 of a token, as `[auth]` lists it.
pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// `token`'s hash as it is written in `[auth]`.
pub fn written_hash(token: &str) -> String {
    format!("{HASH_PREFIX}{}", hex::encode(hash_token(token)))
}

fn parse_hash(entry: &str) -> Option<[u8; 32]> {
    let digits = entry.strip_prefix(HASH_PREFIX)?;
    let mut hash = [0u8; 32];
    hex::decode_to_slice(digits, &mut hash).ok()?;
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(toml: &str) -> Result<Auth, String> {
        let raw: RawAuth = toml::from_str(toml).map_err(|e| e.to_string())?;
        Auth::resolve(&raw).map_err(|e| e.to_string())
    }

    #[test]
    fn a_listed_token_identifies_its_tenant_and_others_do_not() {
        let toml = format!(
            "admin_tokens = [{:?}]\n[tenants]\nacme = [{:?}]\n",
            written_hash("root"),
            written_hash("acme-1")
        );
        let auth = resolve(&toml).expect("valid");
        assert!(auth.enabled, "listing a token turns auth on");
        assert_eq!(auth.identify("root"), Some(&Principal::Admin));
        assert_eq!(
            auth.identify("acme-1"),
            Some(&Principal::Tenant("acme".into()))
        );
        assert_eq!(auth.identify("acme-2"), None);
    }

    #[test]
    fn new_tokens_differ_and_hash_to_a_listable_entry() {
        let (one, two) = (new_token().expect("random"), new_token().expect("random"));
        assert_ne!(one, two);
        assert_eq!(one.len(), "weir_".len() + 43);
        let auth = resolve(&format!("admin_tokens = [{:?}]", written_hash(&one))).expect("valid");
        assert_eq!(auth.identify(&one), Some(&Principal::Admin));
    }

    #[test]
    fn auth_is_off_without_tokens_or_when_disabled() {
        assert!(!resolve("").expect("valid").enabled);
        let off = format!(
            "enabled = false\nadmin_tokens = [{:?}]\n",
            written_hash("t")
        );
        assert!(!resolve(&off).expect("valid").enabled);
    }

    #[test]
    fn bad_sections_name_the_key() {
        let twice = written_hash("same");
        for (toml, expected) in [
            (
                "admin_tokens = [\"hunter2\"]",
                "admin_tokens[0] is not a token hash",
            ),
            (
                "admin_tokens = [\"sha256:abc\"]",
                "admin_tokens[0] is not a token hash",
            ),
            ("[tenants]\n\"a b\" = []", "tenant \"a b\" is invalid"),
            ("enabled = true", "no token is listed"),
            (
                &format!("admin_tokens = [{twice:?}]\n[tenants]\nacme = [{twice:?}]"),
                "tenants.acme[0] is listed twice",
            ),
        ] {
            let error = resolve(toml).expect_err(toml);
            assert!(error.contains(expected), "{toml}: {error}");
        }
    }
}
