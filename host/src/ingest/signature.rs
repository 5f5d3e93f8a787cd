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

/// What a request's headers claim, checked as far as it can be without the
/// body: the signature header is there and well formed, and the signing time
/// (where the scheme has one) is fresh. Every scheme signs the body itself,
/// so the HMAC waits for it; a request that cannot be genuine is refused
/// before its body is read.
#[derive(Debug)]
pub struct Claim {
    /// What the signature covers before the body.
    prefix: Vec<u8>,
    /// The signatures the sender gave.
    signatures: Vec<Vec<u8>>,
    /// The header they came in, for the error.
    header: String,
}

/// Reads `headers` against `webhook`'s scheme at `now_s` (Unix seconds). The
/// error says what is missing or wrong.
pub fn claim(webhook: &Webhook, headers: &HeaderMap, now_s: u64) -> Result<Claim, String> {
    match &webhook.scheme {
        Scheme::Standard { tolerance } => {
            let id = header(headers, "webhook-id")?;
            let timestamp = header(headers, "webhook-timestamp")?;
            check_age("webhook-timestamp", timestamp, now_s, *tolerance)?;
            // Entries are `v1,<base64>`, space-separated; other versions are skipped.
            let signatures = header(headers, "webhook-signature")?
                .split(' ')
                .filter_map(|entry| entry.strip_prefix("v1,"))
                .filter_map(|encoded| STANDARD.decode(encoded).ok())
                .collect();
            Ok(Claim {
                prefix: format!("{id}.{timestamp}.").into_bytes(),
                signatures,
                header: "webhook-signature".to_owned(),
            })
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
            let signatures = entries
                .iter()
                .filter(|&&(name, _)| name == "v1")
                .filter_map(|&(_, encoded)| hex::decode(encoded).ok())
                .collect();
            Ok(Claim {
                prefix: format!("{timestamp}.").into_bytes(),
                signatures,
                header: "stripe-signature".to_owned(),
            })
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
            Ok(Claim {
                prefix: Vec::new(),
                signatures: vec![signature],
                header: name.clone(),
            })
        }
    }
}

impl Claim {
    /// Checks the claim against `body` with `secrets`, in constant time. The
    /// error never says what the right signature would be.
    pub fn verify(&self, secrets: &[Vec<u8>], body: &[u8]) -> Result<(), String> {
        matches_any(
            secrets,
            &[&self.prefix, body],
            &self.signatures,
            &self.header,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EventType;

    fn sender(scheme: Scheme, secret: &[u8]) -> Webhook {
        Webhook {
            scheme,
            secrets: vec![secret.to_vec()],
            event_type: EventType::Fixed("t".into()),
            source: "s".into(),
            tenant: "acme".into(),
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|&(name, value)| (name, value.parse().expect("header value")))
            .map(|(name, value)| (axum::http::HeaderName::from_static(name), value))
            .collect()
    }

    const TOLERANCE: Duration = Duration::from_secs(300);

    /// The example of the Standard Webhooks specification (its README and
    /// every reference library's tests): secret, id, timestamp, body, signature.
    #[test]
    fn the_published_standard_webhooks_example_verifies() {
        let secret = STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .expect("base64");
        let webhook = sender(
            Scheme::Standard {
                tolerance: TOLERANCE,
            },
            &secret,
        );
        let signed = headers(&[
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ]);
        let body = br#"{"test": 2432232314}"#;
        let fresh = claim(&webhook, &signed, 1_614_265_330).expect("well formed and fresh");
        fresh.verify(&webhook.secrets, body).expect("genuine");

        let changed = br#"{"test": 2432232315}"#;
        let refused = fresh
            .verify(&webhook.secrets, changed)
            .expect_err("changed body");
        assert!(
            refused.contains("no signature in webhook-signature matches"),
            "{refused}"
        );
        let stale = claim(&webhook, &signed, 1_614_265_330 + 301).expect_err("old");
        assert!(stale.contains("more than tolerance_s = 300"), "{stale}");
    }

    /// The example in Stripe's .NET library's tests (`stripe-dotnet`,
    /// `src/StripeTests/Services/Events/EventUtilityTest.cs`, with the body
    /// `Resources/event_test_signature.json`, its final newline included):
    /// a signature weir did not compute, beside a `v0` that is ignored.
    #[test]
    fn the_stripe_libraries_published_example_verifies() {
        const BODY: &str = "{\n  \"id\": \"evt_123\",\n  \"object\": \"event\",\n  \"account\": \"acct_123\",\n  \"api_version\": \"2017-05-25\",\n  \"created\": 1533204620,\n  \"data\": {\n    \"object\": {\n      \"id\": \"cus_123\",\n      \"object\": \"customer\",\n      \"created\": 123456789,\n      \"email\": \"test@stripe.com\",\n      \"livemode\": false,\n      \"metadata\": {}\n    }\n  },\n  \"livemode\": false,\n  \"pending_webhooks\": 1,\n  \"request\": {\n    \"id\": \"req_123\",\n    \"idempotency_key\": \"idempotency-key-123\"\n  },\n  \"type\": \"customer.created\"\n}\n";
        let webhook = sender(
            Scheme::Stripe {
                tolerance: TOLERANCE,
            },
            b"webhook_secret",
        );
        let signed = headers(&[(
            "stripe-signature",
            "t=1533204620,\
             v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,\
             v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef",
        )]);
        let fresh = claim(&webhook, &signed, 1_533_204_620).expect("well formed and fresh");
        fresh
            .verify(&webhook.secrets, BODY.as_bytes())
            .expect("genuine");
        let without_newline = BODY.trim_end().as_bytes();
        assert!(fresh.verify(&webhook.secrets, without_newline).is_err());
        let stale = claim(&webhook, &signed, 1_533_204_620 + 301).expect_err("old");
        assert!(stale.contains("more than tolerance_s = 300"), "{stale}");
    }

    #[test]
    fn a_request_that_cannot_be_genuine_is_refused_from_its_headers() {
        let stripe = sender(
            Scheme::Stripe {
                tolerance: TOLERANCE,
            },
            b"k",
        );
        let missing = claim(&stripe, &HeaderMap::new(), 0).expect_err("no header");
        assert_eq!(missing, "the stripe-signature header is missing");
        let no_time =
            claim(&stripe, &headers(&[("stripe-signature", "v1=00")]), 0).expect_err("no t=");
        assert_eq!(no_time, "stripe-signature has no t= timestamp");

        let github = sender(
            Scheme::Hmac {
                header: "x-hub-signature-256".into(),
                prefix: "sha256=".into(),
                encoding: Encoding::Hex,
            },
            b"k",
        );
        let unprefixed =
            claim(&github, &headers(&[("x-hub-signature-256", "00")]), 0).expect_err("no prefix");
        assert!(
            unprefixed.contains("does not start with \"sha256=\""),
            "{unprefixed}"
        );
    }

    #[test]
    fn a_stripe_signature_covers_the_timestamp_and_the_body() {
        let webhook = sender(
            Scheme::Stripe {
                tolerance: TOLERANCE,
            },
            b"whsec_test",
        );
        let mut mac = HmacSha256::new_from_slice(b"whsec_test").expect("key");
        mac.update(b"1700000000.{\"id\":\"evt_1\"}");
        let signature = hex::encode(mac.finalize().into_bytes());
        let value = format!("t=1700000000,v1=00,v1={signature}");
        let signed = headers(&[("stripe-signature", &value)]);
        let fresh = claim(&webhook, &signed, 1_700_000_000).expect("well formed");
        fresh
            .verify(&webhook.secrets, b"{\"id\":\"evt_1\"}")
            .expect("the second v1 matches");
        assert!(
            fresh
                .verify(&webhook.secrets, b"{\"id\":\"evt_2\"}")
                .is_err()
        );
    }
}
