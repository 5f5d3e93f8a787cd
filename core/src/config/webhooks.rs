//! `[webhooks.NAME]`: third-party senders that post to `/v1/webhooks/NAME`,
//! how their signatures are checked, and what event each request becomes.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

use super::ConfigError;
use crate::event::DEFAULT_TENANT;

/// The prefix Standard Webhooks puts before a base64 secret.
const STANDARD_SECRET_PREFIX: &str = "whsec_";

/// How a secret names the environment variable that holds it.
const ENV_PREFIX: &str = "env:";

/// Five minutes either way, as Standard Webhooks recommends.
const DEFAULT_TOLERANCE_S: u64 = 300;

/// One `[webhooks.NAME]` section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    scheme: RawScheme,
    secrets: Vec<String>,
    tolerance_s: Option<u64>,
    #[serde(rename = "type")]
    kind: Option<String>,
    type_header: Option<String>,
    type_field: Option<String>,
    id_header: Option<String>,
    source: Option<String>,
    tenant: Option<String>,
    header: Option<String>,
    prefix: Option<String>,
    encoding: Option<Encoding>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum RawScheme {
    Standard,
    Hmac,
    Stripe,
}

/// How a signature is written in its header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// Lowercase or uppercase hex digits (GitHub).
    #[default]
    Hex,
    /// Standard base64.
    Base64,
}

/// How a sender signs its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` and
    /// `webhook-signature` (`v1,<base64>` entries), HMAC-SHA256 over
    /// `id.timestamp.body`.
    Standard {
        /// How far the timestamp may be from now, either way.
        tolerance: Duration,
    },
    /// Stripe's `Stripe-Signature: t=<unix s>,v1=<hex>[,v1=<hex>...]`,
    /// HMAC-SHA256 over `t.body` with the endpoint secret as the key.
    Stripe {
        /// How far `t` may be from now, either way.
        tolerance: Duration,
    },
    /// One header holding an HMAC-SHA256 of the raw body (GitHub's
    /// `x-hub-signature-256: sha256=<hex>` and its like).
    Hmac {
        /// The header, lowercase.
        header: String,
        /// Text before the signature, such as `sha256=`.
        prefix: String,
        /// How the signature is written.
        encoding: Encoding,
    },
}

/// Where the event type comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventType {
    /// The same for every request.
    Fixed(String),
    /// A request header, such as `x-github-event`: not signed.
    Header(String),
    /// A top-level string member of the JSON body, such as Stripe's `type`:
    /// signed with the body.
    BodyField(String),
}

/// A configured webhook sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// How its requests are signed.
    pub scheme: Scheme,
    /// The keys a valid signature may be made with: several while a secret
    /// is being rotated.
    pub secrets: Vec<Vec<u8>>,
    /// The type of the events it makes.
    pub event_type: EventType,
    /// The events' `source`.
    pub source: String,
    /// The events' tenant.
    pub tenant: String,
}

impl Webhook {
    /// Checks and resolves the `[webhooks.NAME]` section.
    pub(super) fn resolve(name: &str, raw: &RawWebhook) -> Result<Webhook, ConfigError> {
        let invalid =
            |message: String| ConfigError::Invalid(format!("[webhooks.{name}] {message}"));
        let secret_values = raw
            .secrets
            .iter()
            .enumerate()
            .map(|(n, secret)| {
                from_environment(secret).map_err(|e| invalid(format!("secrets[{n}] {e}")))
            })
            .collect::<Result<Vec<String>, _>>()?;
        if secret_values.is_empty() || secret_values.iter().any(String::is_empty) {
            return Err(invalid(
                "secrets must list at least one secret, none empty".into(),
            ));
        }
        let hmac_keys =
            [&raw.header, &raw.prefix].iter().any(|key| key.is_some()) || raw.encoding.is_some();
        if let Some(message) = unsigned_header(raw) {
            return Err(invalid(message));
        }
        let (scheme, secrets) = match raw.scheme {
            RawScheme::Standard => {
                if hmac_keys {
                    return Err(invalid(
                        "header, prefix and encoding are for scheme = \"hmac\"; \
                         Standard Webhooks use webhook-id and webhook-signature"
                            .into(),
                    ));
                }
                let secrets = secret_values
                    .iter()
                    .enumerate()
                    .map(|(n, secret)| {
                        standard_secret(secret).map_err(|e| invalid(format!("secrets[{n}] {e}")))
                    })
                    .collect::<Result<_, _>>()?;
                let tolerance = Duration::from_secs(raw.tolerance_s.unwrap_or(DEFAULT_TOLERANCE_S));
                (Scheme::Standard { tolerance }, secrets)
            }
            RawScheme::Stripe => {
                if hmac_keys {
                    return Err(invalid(
                        "header, prefix and encoding are for scheme = \"hmac\"; \
                         Stripe signs in Stripe-Signature"
                            .into(),
                    ));
                }
                let tolerance = Duration::from_secs(raw.tolerance_s.unwrap_or(DEFAULT_TOLERANCE_S));
                let secrets = secret_values
                    .iter()
                    .map(|s| s.as_bytes().to_vec())
                    .collect();
                (Scheme::Stripe { tolerance }, secrets)
            }
            RawScheme::Hmac => {
                if raw.tolerance_s.is_some() {
                    return Err(invalid(
                        "tolerance_s is for scheme = \"standard\" or \"stripe\"".into(),
                    ));
                }
                let header = raw
                    .header
                    .clone()
                    .ok_or_else(|| {
                        invalid(
                            "scheme = \"hmac\" needs header, the header holding the signature"
                                .into(),
                        )
                    })?
                    .to_ascii_lowercase();
                let scheme = Scheme::Hmac {
                    header,
                    prefix: raw.prefix.clone().unwrap_or_default(),
                    encoding: raw.encoding.unwrap_or_default(),
                };
                let secrets = secret_values
                    .iter()
                    .map(|s| s.as_bytes().to_vec())
                    .collect();
                (scheme, secrets)
            }
        };
        let event_type = match (&raw.kind, &raw.type_header, &raw.type_field) {
            (Some(kind), None, None) if !kind.is_empty() => EventType::Fixed(kind.clone()),
            (None, Some(header), None) => EventType::Header(header.to_ascii_lowercase()),
            (None, None, Some(field)) if !field.is_empty() => EventType::BodyField(field.clone()),
            _ => {
                return Err(invalid(
                    "set exactly one of type (the event type), type_field (a member of the \
                     signed JSON body giving it) and type_header (a header giving it, unsigned)"
                        .into(),
                ));
            }
        };
        let tenant = raw
            .tenant
            .clone()
            .unwrap_or_else(|| DEFAULT_TENANT.to_owned());
        crate::event::check_tenant(&tenant).map_err(invalid)?;
        Ok(Webhook {
            scheme,
            secrets,
            event_type,
            source: raw
                .source
                .clone()
                .unwrap_or_else(|| format!("/v1/webhooks/{name}")),
            tenant,
        })
    }
}

/// Why a section takes an event's identity or type from a header its scheme
/// does not sign, if it does: anyone who captured a request could then resend
/// it as a new event, or as another type.
fn unsigned_header(raw: &RawWebhook) -> Option<String> {
    if let Some(header) = &raw.id_header {
        let signed_id = match raw.scheme {
            RawScheme::Standard => "the signed webhook-id",
            RawScheme::Stripe => "the \"id\" of the signed body",
            RawScheme::Hmac => {
                return Some(format!(
                    "id_header would make the unsigned {header} header the event id; an hmac \
                     sender's event id is the SHA-256 of its signed body, so a resent body is a \
                     duplicate whatever its headers say: remove id_header"
                ));
            }
        };
        return Some(format!(
            "id_header would make the unsigned {header} header the event id; this scheme's \
             event id is {signed_id}, so a resend is a duplicate"
        ));
    }
    if let (Some(header), RawScheme::Standard | RawScheme::Stripe) = (&raw.type_header, raw.scheme)
    {
        return Some(format!(
            "type_header = \"{header}\" would take the event type from a header the signature \
             does not cover, so a resend could change its route; set type, or type_field for a \
             member of the signed body"
        ));
    }
    None
}

/// A secret as written, or, written `env:NAME`, the value of environment
/// variable NAME: the config file need not hold the secret itself.
fn from_environment(secret: &str) -> Result<String, String> {
    let Some(variable) = secret.strip_prefix(ENV_PREFIX) else {
        return Ok(secret.to_owned());
    };
    match std::env::var(variable) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(format!(
            "names the environment variable {variable}, which is not set (or is empty)"
        )),
    }
}

/// A Standard Webhooks secret: `whsec_` then base64.
fn standard_secret(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret
        .strip_prefix(STANDARD_SECRET_PREFIX)
        .unwrap_or(secret);
    match STANDARD.decode(encoded) {
        Ok(key) if !key.is_empty() => Ok(key),
        _ => Err(format!(
            "is not a Standard Webhooks secret: expected {STANDARD_SECRET_PREFIX} followed by base64"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Webhook, ConfigError> {
        let raw: RawWebhook =
            toml::from_str(text).map_err(|e| ConfigError::Invalid(e.to_string()))?;
        Webhook::resolve("billing", &raw)
    }

    #[test]
    fn standard_secrets_are_base64_after_their_prefix() {
        let webhook = resolve(
            "scheme = \"standard\"\nsecrets = [\"whsec_c2VjcmV0\", \"b2xk\"]\ntype = \"billing.paid\"",
        )
        .expect("valid");
        assert_eq!(webhook.secrets, vec![b"secret".to_vec(), b"old".to_vec()]);
        assert_eq!(webhook.source, "/v1/webhooks/billing");
        assert_eq!(webhook.tenant, "default");
        assert_eq!(
            webhook.scheme,
            Scheme::Standard {
                tolerance: Duration::from_secs(300)
            }
        );
    }

    #[test]
    fn bad_sections_are_named() {
        let cases = [
            (
                "scheme = \"standard\"\nsecrets = [\"whsec_!!\"]\ntype = \"t\"",
                "secrets[0] is not a Standard Webhooks secret",
            ),
            (
                "scheme = \"standard\"\nsecrets = []\ntype = \"t\"",
                "at least one secret",
            ),
            (
                "scheme = \"hmac\"\nsecrets = [\"s\"]\ntype = \"t\"",
                "needs header",
            ),
            (
                "scheme = \"hmac\"\nsecrets = [\"s\"]\nheader = \"h\"",
                "exactly one of type",
            ),
            (
                "scheme = \"standard\"\nsecrets = [\"c2VjcmV0\"]\ntype = \"t\"\nheader = \"h\"",
                "are for scheme = \"hmac\"",
            ),
            (
                "scheme = \"stripe\"\nsecrets = [\"env:WEIR_TEST_UNSET_SECRET\"]\ntype = \"t\"",
                "secrets[0] names the environment variable WEIR_TEST_UNSET_SECRET, which is not set",
            ),
            (
                "scheme = \"stripe\"\nsecrets = [\"whsec_x\"]\ntype = \"t\"\nprefix = \"v1=\"",
                "Stripe signs in Stripe-Signature",
            ),
            (
                "scheme = \"hmac\"\nsecrets = [\"s\"]\ntype = \"t\"\nheader = \"h\"\ntolerance_s = 5",
                "tolerance_s is for scheme = \"standard\" or \"stripe\"",
            ),
            (
                "scheme = \"stripe\"\nsecrets = [\"s\"]\ntype = \"t\"\nid_header = \"x-id\"",
                "unsigned x-id header the event id; this scheme's event id is the \"id\" of the signed body",
            ),
            (
                "scheme = \"hmac\"\nsecrets = [\"s\"]\ntype = \"t\"\nheader = \"h\"\nid_header = \"x-github-delivery\"",
                "the SHA-256 of its signed body, so a resent body is a duplicate whatever its headers say: remove id_header",
            ),
            (
                "scheme = \"stripe\"\nsecrets = [\"s\"]\ntype = \"t\"\ntype_field = \"type\"",
                "exactly one of type (the event type), type_field",
            ),
            (
                "scheme = \"standard\"\nsecrets = [\"c2VjcmV0\"]\ntype_header = \"x-kind\"",
                "type_header = \"x-kind\" would take the event type from a header the signature does not cover",
            ),
        ];
        for (text, expected) in cases {
            let error = resolve(text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text}: {error}");
            assert!(error.contains("[webhooks.billing]"), "{error}");
        }
    }
}
