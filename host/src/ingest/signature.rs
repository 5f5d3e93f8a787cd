//! Checking a webhook request's signature over the raw body bytes, as the
//! sender made it: HMAC-SHA256 with one of the configured secrets, compared in
//! constant time.

use std::time::Duration;

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{Encoding, Scheme, Webhook};

type HmacSha256 = Hmac<Sha256>;

/// Checks `body` and `headers` against `webhook`'s scheme and secrets at
/// `now_s` (Unix seconds). The error says what is missing or wrong, never
/// what the right signature would be.
pub fn verify(
    webhook: &Webhook,
    headers: &HeaderMap,
    body: &[u8],
    now_s: u64,
) -> Result<(), String> {
    match &webhook.scheme {
        Scheme::Standard { tolerance } => {
            let id = header(headers, "webhook-id")?;
            let timestamp = header(headers, "webhook-timestamp")?;
            check_age("webhook-timestamp", timestamp, now_s, *tolerance)?;
            // Entries are `v1,<base64>`, space-separated; other versions are skipped.
            let signatures: Vec<Vec<u8>> = header(headers, "webhook-signature")?
                .split(' ')
                .filter_map(|entry| entry.strip_prefix("v1,"))
                .filter_map(|encoded| STANDARD.decode(encoded).ok())
                .collect();
            let signed = [id.as_bytes(), b".", timestamp.as_bytes(), b".", body];
            matches_any(&webhook.secrets, &signed, &signatures, "webhook-signature")
        }
        Scheme::Stripe { tolerance } => {
            // `t=<unix s>,v1=<hex>,v1=<hex>,v0=...`: every v1 is tried.
            let value = header(headers, "stripe-signature")?;
            let entries: Vec<(&str, &str)> = value
                .split(',')
                .filter_map(|entry| entry.trim().split_once('='))
                .collect();
            let timestamp = entries
                .iter()
                .find_map(|&(name, value)| (name == "t").then_some(value))
                .ok_or("stripe-signature has no t= timestamp")?;
            check_age("stripe-signature t", timestamp, now_s, *tolerance)?;
            let signatures: Vec<Vec<u8>> = entries
                .iter()
                .filter(|&&(name, _)| name == "v1")
                .filter_map(|&(_, encoded)| hex::decode(encoded).ok())
                .collect();
            let signed = [timestamp.as_bytes(), b".", body];
            matches_any(&webhook.secrets, &signed, &signatures, "stripe-signature")
        }
        Scheme::Hmac {
            header: name,
            prefix,
            encoding,
        } => {
            let value = header(headers, name)?;
            let encoded = value
                .strip_prefix(prefix.as_str())
                .ok_or_else(|| format!("{name} does not start with {prefix:?}"))?;
            let signature = match encoding {
                Encoding::Hex => hex::decode(encoded).ok(),
                Encoding::Base64 => STANDARD.decode(encoded).ok(),
            }
            .ok_or_else(|| format!("{name} is not {encoding:?}-encoded").to_lowercase())?;
            matches_any(&webhook.secrets, &[body], &[signature], name)
        }
    }
}

/// Refuses a signing time (Unix seconds, as text) more than `tolerance` from
/// now: an old request replayed by someone who captured it.
fn check_age(name: &str, timestamp: &str, now_s: u64, tolerance: Duration) -> Result<(), String> {
    let sent_s: u64 = timestamp
        .parse()
        .map_err(|_| format!("{name} {timestamp:?} is not a Unix time in seconds"))?;
    let skew = now_s.abs_diff(sent_s);
    if skew > tolerance.as_secs() {
        return Err(format!(
            "{name} is {skew} s away from now, more than tolerance_s = {} allows: \
             an old request is refused, as it may be a replay",
            tolerance.as_secs()
        ));
    }
    Ok(())
}

/// The value of header `name`, which must be present and text.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Result<&'h str, String> {
    headers
        .get(name)
        .ok_or_else(|| format!("the {name} header is missing"))?
        .to_str()
        .map_err(|_| format!("the {name} header is not text"))
}

/// Whether one of `signatures` is the HMAC of the concatenated `signed` parts
/// under one of `secrets`.
fn matches_any(
    secrets: &[Vec<u8>],
    signed: &[&[u8]],
    signatures: &[Vec<u8>],
    header: &str,
) -> Result<(), String> {
    for secret in secrets {
        let Ok(mut mac) = HmacSha256::new_from_slice(secret) else {
            continue;
        };
        for part in signed {
            mac.update(part);
        }
        // verify_slice compares in constant time.
        if signatures
            .iter()
            .any(|signature| mac.clone().verify_slice(signature).is_ok())
        {
            return Ok(());
        }
    }
    Err(format!(
        "no signature in {header} matches a configured secret"
    ))
}
