//! `Idempotency-Key` on `POST /v1/events`: a repeat of the same request gets
//! the first answer again, marked as a replay, and stores nothing new; the key
//! on a different request gets 422; a repeat while the first is still arriving
//! gets 409; keys of different tenants do not meet.

use std::io::Write;

use serde_json::json;

use crate::auth::{call, start_with_tokens};
use crate::support::{Answer, Weir, Workspace, has_answered, raw_connection, read_until_closed};

const ROUTES: &str = r#"
[[route]]
name = "ack"
match = { type = "*" }
plugins = ["test-ack"]
"#;

fn post_keyed(weir: &Weir, key: &str, body: &str) -> Answer {
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", key),
    ];
    weir.post_with("/v1/events", &headers, body)
}

#[test]
fn a_repeated_request_gets_the_first_answer_and_stores_nothing_new() {
    let workspace = Workspace::new(&["test-ack"], ROUTES);
    let weir = workspace.start();
    // No ids: weir generates them, so only a recorded answer can repeat them.
    let batch = json!([
        {"source": "shop", "type": "order.placed"},
        {"source": "shop", "type": "order.paid"},
    ])
    .to_string();

    let first = post_keyed(&weir, "order-42", &batch);
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(first.replayed, None);
    let again = post_keyed(&weir, "order-42", &batch);
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.replayed.as_deref(), Some("true"));
    assert_eq!(again.body, first.body, "the replay differs from the answer");
    assert_eq!(weir.metric("weir_events_ingested_total"), 2.0);

    // The same key on another request: 422, nothing stored.
    let other = json!({"id": "other", "source": "shop", "type": "order.placed"}).to_string();
    let reused = post_keyed(&weir, "order-42", &other);
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");
    assert_eq!(weir.get("/v1/events/other").status, 404);

    // A bad key is refused by name; a request that failed leaves its key free.
    for bad in ["k".repeat(256), "tab\tinside".to_owned()] {
        let refused = post_keyed(&weir, &bad, &other);
        assert_eq!(refused.status, 400, "{bad:?}: {}", refused.text);
        assert!(
            refused.text.contains("Idempotency-Key must be"),
            "{}",
            refused.text
        );
    }
    let invalid = post_keyed(&weir, "fresh", r#"{"id": "x"}"#);
    assert_eq!(invalid.status, 400, "{}", invalid.text);
    let retried = post_keyed(&weir, "fresh", &other);
    assert_eq!(retried.status, 202, "{}", retried.text);
    assert_eq!(retried.replayed, None);

    // The record survives a restart.
    weir.stop();
    let weir = workspace.start();
    let after = post_keyed(&weir, "order-42", &batch);
    assert_eq!(after.replayed.as_deref(), Some("true"));
    assert_eq!(after.body, first.body);
}

#[test]
fn a_repeat_while_the_first_request_is_still_arriving_gets_409() {
    let workspace = Workspace::new(&["test-ack"], ROUTES);
    let weir = workspace.start();
    // A probe sees the key held only once weir has read the first request's
    // headers. A probe that comes earlier holds the key for a moment itself,
    // and a first request arriving in that moment gets the 409 instead: then
    // the run starts over with a new key.
    for attempt in 0..RACE_ATTEMPTS {
        let key = format!("slow-{attempt}");
        if first_request_holds_its_key_while_arriving(&weir, &key) {
            return;
        }
    }
    panic!("the first request lost the race to its own probe {RACE_ATTEMPTS} times");
}

/// How often the race above may be lost before the test gives up.
const RACE_ATTEMPTS: usize = 5;

/// Sends half a request with `key`, probes until a repeat gets 409, then
/// finishes the request; false if a probe beat the first request to the key.
fn first_request_holds_its_key_while_arriving(weir: &Weir, key: &str) -> bool {
    let event = json!({"id": key, "source": "shop", "type": "order.placed"}).to_string();
    let mut first = raw_connection(weir);
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Idempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n",
        event.len()
    );
    let (start, rest) = event.split_at(10);
    first
        .write_all(format!("{head}{start}").as_bytes())
        .expect("send half");
    // The probe's body is not JSON: a probe holding the key gets 400, which
    // records nothing, so the key is free again for the first request.
    let conflict = weir.wait_for("the key to be held", |weir| {
        let answer = post_keyed(weir, key, "{");
        if answer.status == 409 {
            return Some(Some(answer));
        }
        has_answered(&first).then_some(None)
    });
    let Some(conflict) = conflict else {
        let answer = read_until_closed(first);
        assert!(answer.starts_with("HTTP/1.1 409"), "{answer}");
        return false;
    };
    assert_eq!(conflict.body["error"]["code"], "idempotency_key_in_use");
    assert_eq!(weir.get(&format!("/v1/events/{key}")).status, 404);

    first.write_all(rest.as_bytes()).expect("send the rest");
    let answer = read_until_closed(first);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let replay = post_keyed(weir, key, &event);
    assert_eq!(replay.replayed.as_deref(), Some("true"), "{}", replay.text);
    true
}

#[test]
fn keys_belong_to_the_callers_tenant() {
    let (_workspace, weir, tokens) = start_with_tokens();
    let send = |token: &str, id: &str| {
        let event = json!({"id": id, "source": "shop", "type": "doomed"}).to_string();
        let bearer = format!("Bearer {token}");
        let headers = [
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
            ("idempotency-key", "same-key"),
        ];
        weir.request("POST", "/v1/events", &headers, &event)
    };
    // Two tenants, one key, different requests: both are new to their tenant.
    let acme = send(&tokens.acme, "acme-order");
    assert_eq!(
        (acme.status, acme.replayed.clone()),
        (202, None),
        "{}",
        acme.text
    );
    let beta = send(&tokens.beta, "beta-order");
    assert_eq!(
        (beta.status, beta.replayed.clone()),
        (202, None),
        "{}",
        beta.text
    );
    let stored = call(&weir, "GET", "/v1/events/beta-order", &tokens.admin, "");
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(
        send(&tokens.acme, "acme-order").replayed.as_deref(),
        Some("true")
    );
}

#[test]
fn a_key_is_free_again_once_the_dedup_window_has_passed() {
    let config = format!("[queue]\nretention_ms = 500\ndedup_window_ms = 500\n{ROUTES}");
    let workspace = Workspace::new(&["test-ack"], &config);
    let weir = workspace.start();
    let event = |id: &str| json!({"id": id, "source": "shop", "type": "t"}).to_string();
    assert_eq!(post_keyed(&weir, "monthly", &event("january")).status, 202);
    let reused = post_keyed(&weir, "monthly", &event("february"));
    assert_eq!(reused.status, 422, "{}", reused.text);

    let taken = weir.wait_for("the key to expire", |weir| {
        let answer = post_keyed(weir, "monthly", &event("february"));
        (answer.status == 202).then_some(answer)
    });
    assert_eq!(taken.replayed, None);
    assert_eq!(taken.body["ids"], json!(["february"]));
}
