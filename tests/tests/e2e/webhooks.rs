//! `POST /v1/webhooks/{name}`: signed third-party requests become events, and
//! anything unsigned, tampered with or stale gets 401 with nothing stored.
//! Standard Webhooks signatures are made by the `standardwebhooks` package;
//! GitHub-style and Stripe ones by Python's `hmac`, as their senders document.

use serde_json::Value;
use sha2::{Digest, Sha256};

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

/// Checks that `answer` is the error `status` `code` whose message says `reason`.
fn assert_error(answer: &Answer, status: u16, code: &str, reason: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.text);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(reason), "{message}");
}

fn assert_refused(weir: &Weir, answer: &Answer, id: &str, reason: &str) {
    assert_error(answer, 401, "invalid_signature", reason);
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
    assert_refused(&weir, &stale, "msg-5", "more than tolerance_s = 300 allows");
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
fn hmac_signed_webhooks_are_identified_by_their_body_and_keep_any_body() {
    let workspace = Workspace::new(&["test-ack"], CONFIG);
    let weir = workspace.start();
    // It signs no time: weir says at start-up that resends are not refused by age.
    weir.wait_for_log("the warning about the hmac sender", |log| {
        log.lines().any(|line| {
            line.contains(r#""webhook":"github""#)
                && line.contains("signs no timestamp: resends are not refused by age")
                && line.contains("unsigned x-github-event header")
        })
    });
    let body = "action=opened&number=7";
    let sign = |secret: &str| {
        let script = "import sys, hmac, hashlib\n\
            print('sha256=' + hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha256).hexdigest())";
        python::run(script, &[secret, body])
    };
    let post = |delivery: &str, kind: &str, signature: &str| {
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("x-github-event", kind),
            ("x-github-delivery", delivery),
            ("x-hub-signature-256", signature),
        ];
        weir.post_with("/v1/webhooks/github", &headers, body)
    };
    let id = format!("sha256:{}", hex::encode(Sha256::digest(body)));
    assert_refused(
        &weir,
        &post("gh-2", "pull_request", &sign("wrong")),
        &id,
        "x-hub-signature-256",
    );
    assert_refused(
        &weir,
        &post("gh-3", "pull_request", "sha1=abc"),
        &id,
        "does not start with \"sha256=\"",
    );

    let answer = post("gh-1", "pull_request", &sign("gh-secret"));
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.body["ids"][0], id.as_str(), "{}", answer.text);
    let event: Value = weir.get(&format!("/v1/events/{id}")).body;
    assert_eq!(event["type"], "pull_request");
    assert_eq!(
        event["datacontenttype"],
        "application/x-www-form-urlencoded"
    );
    assert_eq!(event["data"], body, "the body, byte for byte: {event}");

    // The body resent with a new delivery id is the same event, stored
    // once; under another event type it is refused, not rerouted.
    let resent = post("gh-9", "pull_request", &sign("gh-secret"));
    assert_eq!(resent.status, 202, "{}", resent.text);
    assert_eq!(resent.body["duplicates"][0], id.as_str(), "{}", resent.text);
    let rerouted = post("gh-10", "push", &sign("gh-secret"));
    assert_error(
        &rerouted,
        422,
        "idempotency_key_reused",
        "was sent before with other content",
    );
    assert_eq!(
        weir.get(&format!("/v1/events/{id}")).body["type"],
        "pull_request"
    );
    assert_eq!(weir.metric("weir_events_ingested_total"), 1.0);

    let unknown = weir.post_with("/v1/webhooks/stripe", &[], body);
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    assert!(
        unknown.text.contains("[webhooks.stripe]"),
        "{}",
        unknown.text
    );
    weir.stop();
}

/// A `Stripe-Signature` value for `body` signed at `at`: Stripe signs
/// `t.body` and lists v1 signatures after `t=`.
fn stripe_signature(secret: &str, at: u64, body: &str) -> String {
    let script = "import sys, hmac, hashlib\n\
        secret, at, body = sys.argv[1:4]\n\
        mac = hmac.new(secret.encode(), (at + '.' + body).encode(), hashlib.sha256)\n\
        print('t=' + at + ',v1=' + mac.hexdigest())";
    python::run(script, &[secret, &at.to_string(), body])
}

fn post_stripe(weir: &Weir, sender: &str, signature: &str, body: &str) -> Answer {
    let headers = [
        ("content-type", "application/json"),
        ("stripe-signature", signature),
    ];
    weir.post_with(&format!("/v1/webhooks/{sender}"), &headers, body)
}

#[test]
fn stripe_signatures_are_checked_over_the_timestamp_and_body() {
    // A sender whose secret comes from the environment, and one that takes
    // the type from the signed body.
    let config = format!(
        "{CONFIG}\n[webhooks.from-env]\nscheme = \"stripe\"\n\
         secrets = [\"env:WEIR_TEST_STRIPE_SECRET\"]\ntype = \"stripe.event\"\n\
         [webhooks.typed]\nscheme = \"stripe\"\nsecrets = [\"whsec_typed\"]\ntype_field = \"type\"\n"
    );
    let workspace = Workspace::new(&["test-ack"], &config);
    let weir = workspace.start_with_env(&[("WEIR_TEST_STRIPE_SECRET", "whsec_from-env")]);
    let body = r#"{"id":"evt_1","type":"invoice.paid"}"#;
    let sign = |secret: &str, at: u64| stripe_signature(secret, at, body);
    let post = |signature: &str| post_stripe(&weir, "payments", signature, body);
    let now = now_s();
    let answer = post(&sign("whsec_stripe-test-secret", now));
    assert_eq!(answer.status, 202, "{}", answer.text);
    // The id is the signed body's, so Stripe's resend is a duplicate.
    assert_eq!(answer.body["ids"][0], "evt_1", "{}", answer.text);
    let event = weir.get("/v1/events/evt_1").body;
    assert_eq!(event["type"], "stripe.event");
    assert_eq!(event["data"]["id"], "evt_1", "{event}");

    // A rolled secret's signature listed first, then the right one, passes;
    // the same event signed again is the same event.
    let good = sign("whsec_stripe-test-secret", now);
    let rolled = good.replace("v1=", "v1=00,v1=");
    let resent = post(&rolled);
    assert_eq!(resent.status, 202, "{}", resent.text);
    assert_eq!(resent.body["duplicates"][0], "evt_1", "{}", resent.text);
    for (signature, reason) in [
        (
            sign("whsec_other", now),
            "no signature in stripe-signature matches",
        ),
        (
            sign("whsec_stripe-test-secret", now - 600),
            "more than tolerance_s = 300 allows",
        ),
        (good.replace("t=", "x="), "no t= timestamp"),
    ] {
        assert_error(&post(&signature), 401, "invalid_signature", reason);
    }
    // A signed body that is not a Stripe event has no id to be known by.
    let no_id = r#"{"type":"invoice.paid"}"#;
    let refused = post_stripe(
        &weir,
        "payments",
        &stripe_signature("whsec_stripe-test-secret", now, no_id),
        no_id,
    );
    assert_error(
        &refused,
        400,
        "invalid_event",
        "a Stripe webhook body must be a JSON object with a non-empty string \"id\"",
    );
    let typed_body = r#"{"id":"evt_t","type":"invoice.paid"}"#;
    let typed = post_stripe(
        &weir,
        "typed",
        &stripe_signature("whsec_typed", now, typed_body),
        typed_body,
    );
    assert_eq!(typed.status, 202, "{}", typed.text);
    assert_eq!(weir.get("/v1/events/evt_t").body["type"], "invoice.paid");
    let untyped = r#"{"id":"evt_2"}"#;
    assert_error(
        &post_stripe(
            &weir,
            "typed",
            &stripe_signature("whsec_typed", now, untyped),
            untyped,
        ),
        400,
        "invalid_event",
        "with type_field = \"type\", the body must be a JSON object with a non-empty string \"type\"",
    );
    let from_env = post_stripe(&weir, "from-env", &sign("whsec_from-env", now), body);
    assert_eq!(from_env.status, 202, "{}", from_env.text);
    let literal = post_stripe(
        &weir,
        "from-env",
        &sign("env:WEIR_TEST_STRIPE_SECRET", now),
        body,
    );
    assert_eq!(
        literal.status, 401,
        "the reference itself is not the secret"
    );
    assert_eq!(
        weir.metric("weir_ingest_rejected_total{reason=\"invalid_signature\"}"),
        4.0
    );
    assert_eq!(weir.metric("weir_events_ingested_total"), 3.0);
}

/// A request captured and sent again once it is older than `tolerance_s`.
#[test]
fn a_request_replayed_after_the_tolerance_is_refused() {
    let config = format!(
        "{CONFIG}\n[webhooks.strict-billing]\nscheme = \"standard\"\n\
         secrets = [\"{NEW_SECRET}\"]\ntolerance_s = 5\ntype = \"billing.event\"\n\
         [webhooks.strict-payments]\nscheme = \"stripe\"\n\
         secrets = [\"whsec_stripe-test-secret\"]\ntolerance_s = 5\ntype = \"stripe.event\"\n"
    );
    let workspace = Workspace::new(&["test-ack"], &config);
    let weir = workspace.start();
    let now = now_s();
    let standard_body = r#"{"type":"invoice.paid"}"#;
    let standard = standard_signature(NEW_SECRET, "msg-r", now, standard_body);
    let stripe_body = r#"{"id":"evt_r","type":"invoice.paid"}"#;
    let stripe = stripe_signature("whsec_stripe-test-secret", now, stripe_body);
    let send = || {
        let timestamp = now.to_string();
        let headers = [
            ("content-type", "application/json"),
            ("webhook-id", "msg-r"),
            ("webhook-timestamp", timestamp.as_str()),
            ("webhook-signature", standard.as_str()),
        ];
        (
            weir.post_with("/v1/webhooks/strict-billing", &headers, standard_body),
            post_stripe(&weir, "strict-payments", &stripe, stripe_body),
        )
    };
    let (first_standard, first_stripe) = send();
    assert_eq!(first_standard.status, 202, "{}", first_standard.text);
    assert_eq!(first_stripe.status, 202, "{}", first_stripe.text);

    // Bounded: the clock passes the tolerance within about 6 s.
    for _ in 0..150 {
        if now_s() > now + 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        now_s() > now + 5,
        "the clock did not move past the tolerance"
    );
    let (standard_replay, stripe_replay) = send();
    for (answer, header) in [
        (standard_replay, "webhook-timestamp"),
        (stripe_replay, "stripe-signature t"),
    ] {
        let rule =
            "more than tolerance_s = 5 allows: an old request is refused, as it may be a replay";
        assert_error(&answer, 401, "invalid_signature", rule);
        assert!(answer.text.contains(header), "{}", answer.text);
    }
    weir.stop();
}

/// A request whose headers cannot be genuine is refused before its body is
/// read: here the body never comes, and the 401 does anyway.
#[test]
fn an_unsigned_request_is_refused_without_waiting_for_its_body() {
    use std::io::{Read, Write};
    let workspace = Workspace::new(&["test-ack"], CONFIG);
    let weir = workspace.start();
    let mut stream = crate::support::raw_connection(&weir);
    let head = "POST /v1/webhooks/billing HTTP/1.1\r\nhost: 127.0.0.1\r\n\
                content-type: application/json\r\ncontent-length: 4000000\r\n\r\n{\"type\":";
    stream.write_all(head.as_bytes()).expect("send the head");
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    // Bounded by the connection's read timeout and by the size of one answer.
    while received.len() < 64 * 1024 {
        let text = String::from_utf8_lossy(&received);
        if text.contains("nothing was stored") {
            break;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(error) => panic!("no answer while the body was still coming: {error}"),
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 401"), "{text}");
    assert!(
        text.contains("the webhook-id header is missing; nothing was stored"),
        "{text}"
    );
    // The body was never read, so the connection cannot serve another request.
    assert!(
        text.to_ascii_lowercase().contains("connection: close"),
        "{text}"
    );
    drop(stream);
    weir.stop();
}
