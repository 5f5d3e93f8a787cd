//! `POST /v1/webhooks/{name}`: signed third-party requests become events, and
//! anything unsigned, tampered with or stale gets 401 with nothing stored.
//! Standard Webhooks signatures are made by the `standardwebhooks` package;
//! GitHub-style and Stripe ones by Python's `hmac`, as their senders document.

use serde_json::Value;

use crate::python;
use crate::support::{Answer, Weir, Workspace};

const NEW_SECRET: &str = "whsec_bmV3LXNlY3JldC1mb3ItdGVzdHM=";
const OLD_SECRET: &str = "whsec_b2xkLXNlY3JldC1mb3ItdGVzdHM=";

const CONFIG: &str = r#"
[webhooks.billing]
scheme = "standard"
secrets = ["whsec_bmV3LXNlY3JldC1mb3ItdGVzdHM=", "whsec_b2xkLXNlY3JldC1mb3ItdGVzdHM="]
type = "billing.event"
tenant = "acme"

[webhooks.github]
scheme = "hmac"
secrets = ["gh-secret"]
header = "x-hub-signature-256"
prefix = "sha256="
type_header = "x-github-event"
id_header = "x-github-delivery"

[webhooks.payments]
scheme = "stripe"
secrets = ["whsec_stripe-test-secret"]
type = "stripe.event"

[[route]]
name = "ack"
match = { type = "*" }
plugins = ["test-ack"]
"#;

/// A Standard Webhooks signature header value for (`id`, `timestamp`, `body`).
fn standard_signature(secret: &str, id: &str, timestamp: u64, body: &str) -> String {
    let script = "import sys, datetime\n\
        from standardwebhooks import Webhook\n\
        secret, msg_id, ts, body = sys.argv[1:5]\n\
        when = datetime.datetime.fromtimestamp(int(ts), tz=datetime.timezone.utc)\n\
        print(Webhook(secret).sign(msg_id, when, body))";
    python::run(script, &[secret, id, &timestamp.to_string(), body])
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn post_standard(weir: &Weir, id: &str, timestamp: u64, signature: &str, body: &str) -> Answer {
    let timestamp = timestamp.to_string();
    let headers = [
        ("content-type", "application/json"),
        ("webhook-id", id),
        ("webhook-timestamp", timestamp.as_str()),
        ("webhook-signature", signature),
    ];
    weir.post_with("/v1/webhooks/billing", &headers, body)
}

fn assert_refused(weir: &Weir, answer: &Answer, id: &str, reason: &str) {
    assert_eq!(answer.status, 401, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "invalid_signature");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(reason), "{message}");
    assert_eq!(
        weir.get(&format!("/v1/events/{id}")).status,
        404,
        "{id} was stored"
    );
}

#[test]
fn standard_webhooks_are_verified_with_every_current_secret() {
    let workspace = Workspace::new(&["test-ack"], CONFIG);
    let weir = workspace.start();
    let body = r#"{"type":"invoice.paid","amount":1200}"#;
    let now = now_s();

    let signed = standard_signature(NEW_SECRET, "msg-1", now, body);
    let answer = post_standard(&weir, "msg-1", now, &signed, body);
    assert_eq!(answer.status, 202, "{}", answer.text);
    let event = weir.get("/v1/events/msg-1").body;
    assert_eq!(event["type"], "billing.event");
    assert_eq!(event["tenant"], "acme");
    assert_eq!(event["source"], "/v1/webhooks/billing");
    assert_eq!(event["data"]["amount"], 1200, "{event}");

    // A secret being rotated out still verifies, and so does a header listing
    // a stale signature next to a good one.
    let old = standard_signature(OLD_SECRET, "msg-2", now, body);
    assert_eq!(post_standard(&weir, "msg-2", now, &old, body).status, 202);
    let stale_then_good = format!(
        "v1,AAAA {}",
        standard_signature(NEW_SECRET, "msg-3", now, body)
    );
    assert_eq!(
        post_standard(&weir, "msg-3", now, &stale_then_good, body).status,
        202
    );

    // The sender retrying a delivery is a duplicate, stored once.
    let again = post_standard(&weir, "msg-1", now, &signed, body);
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["duplicates"][0], "msg-1");

    let tampered = post_standard(
        &weir,
        "msg-4",
        now,
        &standard_signature(NEW_SECRET, "msg-4", now, body),
        &body.replace("1200", "1"),
    );
    assert_refused(
        &weir,
        &tampered,
        "msg-4",
        "no signature in webhook-signature matches",
    );
    let stale_time = now - 600;
    let stale = standard_signature(NEW_SECRET, "msg-5", stale_time, body);
    let stale = post_standard(&weir, "msg-5", stale_time, &stale, body);
    assert_refused(&weir, &stale, "msg-5", "more than the 300 s allowed");
    let foreign = standard_signature("whsec_c29tZW9uZS1lbHNl", "msg-6", now, body);
    let foreign = post_standard(&weir, "msg-6", now, &foreign, body);
    assert_refused(&weir, &foreign, "msg-6", "matches a configured secret");
    let unsigned = weir.post_with(
        "/v1/webhooks/billing",
        &[
            ("webhook-id", "msg-7"),
            ("webhook-timestamp", &now.to_string()),
        ],
        body,
    );
    assert_refused(
        &weir,
        &unsigned,
        "msg-7",
        "the webhook-signature header is missing",
    );
    assert_eq!(
        weir.metric(r#"weir_ingest_rejected_total{reason="invalid_signature"}"#),
        4.0
    );
    weir.stop();
}

#[test]
fn hmac_signed_webhooks_take_id_and_type_from_headers_and_keep_any_body() {
    let workspace = Workspace::new(&["test-ack"], CONFIG);
    let weir = workspace.start();
    let body = "action=opened&number=7";
    let sign = |secret: &str| {
        let script = "import sys, hmac, hashlib\n\
            print('sha256=' + hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())";
        python::run(script, &[secret, body])
    };
    let post = |delivery: &str, signature: &str| {
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-github-event", "pull_request"),
            ("x-github-delivery", delivery),
            ("x-hub-signature-256", signature),
        ];
        weir.post_with("/v1/webhooks/github", &headers, body)
    };
    let answer = post("gh-1", &sign("gh-secret"));
    assert_eq!(answer.status, 202, "{}", answer.text);
    let event: Value = weir.get("/v1/events/gh-1").body;
    assert_eq!(event["type"], "pull_request");
    assert_eq!(
        event["datacontenttype"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(event["data"], body, "the body, byte for byte: {event}");

    assert_refused(
        &weir,
        &post("gh-2", &sign("wrong")),
        "gh-2",
        "x-hub-signature-256",
    );
    assert_refused(
        &weir,
        &post("gh-3", "sha1=abc"),
        "gh-3",
        "does not start with \"sha256=\"",
    );

    let unknown = weir.post_with("/v1/webhooks/stripe", &[], body);
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert!(
        unknown.text.contains("[webhooks.stripe]"),
        "{}",
        unknown.text
    );
    weir.stop();
}

#[test]
fn stripe_signatures_are_checked_over_the_timestamp_and_body() {
    // A second sender whose secret comes from the environment.
    let config = format!(
        "{CONFIG}\n[webhooks.from-env]\nscheme = \"stripe\"\n\
         secrets = [\"env:WEIR_TEST_STRIPE_SECRET\"]\ntype = \"stripe.event\"\n"
    );
    let workspace = Workspace::new(&["test-ack"], &config);
    let weir = workspace.start_with_env(&[("WEIR_TEST_STRIPE_SECRET", "whsec_from-env")]);
    let body = r#"{"id":"evt_1","type":"invoice.paid"}"#;
    // Stripe signs `t.body` and lists v1 signatures after `t=`.
    let sign = |secret: &str, at: u64| {
        let script = "import sys, hmac, hashlib\n\
            secret, at, body = sys.argv[1:4]\n\
            mac = hmac.new(secret.encode(), (at + '.' + body).encode(), hashlib.sha256)\n\
            print('t=' + at + ',v1=' + mac.hexdigest())";
        python::run(script, &[secret, &at.to_string(), body])
    };
    let post_to = |sender: &str, signature: &str| {
        let headers = [
            ("content-type", "application/json"),
            ("stripe-signature", signature),
        ];
        weir.post_with(&format!("/v1/webhooks/{sender}"), &headers, body)
    };
    let post = |signature: &str| post_to("payments", signature);
    let now = now_s();
    let answer = post(&sign("whsec_stripe-test-secret", now));
    assert_eq!(answer.status, 202, "{}", answer.text);
    let id = answer.body["ids"][0].as_str().expect("an id").to_owned();
    let event = weir.get(&format!("/v1/events/{id}")).body;
    assert_eq!(event["type"], "stripe.event");
    assert_eq!(event["data"]["id"], "evt_1", "{event}");

    // A rolled secret's signature listed first, then the right one, passes.
    let good = sign("whsec_stripe-test-secret", now);
    let rolled = good.replace("v1=", "v1=00,v1=");
    assert_eq!(post(&rolled).status, 202);
    for (signature, reason) in [
        (
            sign("whsec_other", now),
            "no signature in stripe-signature matches",
        ),
        (
            sign("whsec_stripe-test-secret", now - 600),
            "more than the 300 s allowed",
        ),
        (good.replace("t=", "x="), "no t= timestamp"),
    ] {
        let answer = post(&signature);
        assert_eq!(answer.status, 401, "{signature}: {}", answer.text);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(reason), "{signature}: {message}");
    }
    let from_env = post_to("from-env", &sign("whsec_from-env", now));
    assert_eq!(from_env.status, 202, "{}", from_env.text);
    let literal = post_to("from-env", &sign("env:WEIR_TEST_STRIPE_SECRET", now));
    assert_eq!(
        literal.status, 401,
        "the reference itself is not the secret"
    );
    assert_eq!(
        weir.metric("weir_ingest_rejected_total{reason=\"invalid_signature\"}"),
        4.0
    );
}
