//! An event is unique by tenant, source and id, as CloudEvents defines it. A
//! resent event is a duplicate, answered as a replay; the same identity with
//! other content is refused (422) and nothing of its request is stored; other
//! tenants and other sources may use the same id without meeting.

use serde_json::json;

use crate::auth::{call, start_with_tokens};
use crate::support::{ACK_EVERYTHING, Workspace};

#[test]
fn an_id_is_unique_per_tenant_and_source() {
    let (_workspace, weir, tokens) = start_with_tokens();
    let get = |path: &str, token: &str| call(&weir, "GET", path, token, "");
    let order = |source: &str| {
        json!({"id": "order-1", "source": source, "type": "order.placed"}).to_string()
    };
    for (token, source) in [
        (&tokens.acme, "shop"),
        (&tokens.acme, "pos"),
        (&tokens.beta, "shop"),
    ] {
        let answer = call(&weir, "POST", "/v1/events", token, &order(source));
        assert_eq!(answer.status, 202, "{source}: {}", answer.text);
        assert_eq!(answer.body["duplicates"], json!([]), "{}", answer.text);
    }

    // beta has one order-1, its own.
    let beta = get("/v1/events/order-1", &tokens.beta);
    assert_eq!(beta.status, 200, "{}", beta.text);
    assert_eq!(
        (&beta.body["tenant"], &beta.body["source"]),
        (&json!("beta"), &json!("shop"))
    );

    // acme has two: the id alone is ambiguous, and names only acme's sources.
    let acme = get("/v1/events/order-1", &tokens.acme);
    assert_eq!(acme.status, 409, "{}", acme.text);
    assert_eq!(acme.body["error"]["code"], "ambiguous_event_id");
    let message = acme.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2 events") && message.contains("\"pos\""),
        "{message}"
    );
    assert!(
        !message.contains("beta"),
        "another tenant leaked: {message}"
    );
    let pos = get("/v1/events/order-1?source=pos", &tokens.acme);
    assert_eq!(pos.status, 200, "{}", pos.text);
    assert_eq!(pos.body["source"], "pos");

    // The admin sees all three, and picks one by tenant and source.
    let all = get("/v1/events/order-1", &tokens.admin);
    assert_eq!(all.status, 409, "{}", all.text);
    assert!(all.text.contains("3 events"), "{}", all.text);
    let picked = get("/v1/events/order-1?tenant=beta&source=shop", &tokens.admin);
    assert_eq!(picked.status, 200, "{}", picked.text);
    assert_eq!(picked.body["tenant"], "beta");
    let unknown = get("/v1/events/order-1?tenant=beta&source=pos", &tokens.admin);
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    weir.stop();
}

#[test]
fn a_resent_event_is_a_replay_and_other_content_under_its_identity_is_refused() {
    let workspace = Workspace::new(&["test-ack"], ACK_EVERYTHING);
    let weir = workspace.start();
    let numbered =
        |id: &str, n: u32| json!({"id": id, "source": "shop", "type": "t", "data": {"n": n}});
    let event = |n: u32| numbered("e1", n);

    let first = weir.post_json("/v1/events", &event(1).to_string());
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(first.replayed, None);
    let again = weir.post_json("/v1/events", &event(1).to_string());
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["duplicates"], json!(["e1"]));
    assert_eq!(again.replayed.as_deref(), Some("true"));

    // A new event beside one that reuses e1's identity: neither is stored.
    let fresh = json!({"id": "e2", "source": "shop", "type": "t"});
    let batch = json!([fresh, event(2)]).to_string();
    let reused = weir.post_json("/v1/events", &batch);
    assert_eq!(reused.status, 422, "{}", reused.text);
    assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");
    let message = reused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("event 1: id \"e1\" from source \"shop\""),
        "{message}"
    );
    assert_eq!(weir.get("/v1/events/e2").status, 404);
    // Within one request too.
    let twice = json!([numbered("e3", 3), numbered("e3", 4)]).to_string();
    let answer = weir.post_json("/v1/events", &twice);
    assert_eq!(answer.status, 422, "{}", answer.text);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("event 1: id \"e3\""), "{message}");
    assert_eq!(weir.get("/v1/events/e3").status, 404);

    let stored = weir.get("/v1/events/e1");
    assert_eq!(stored.body["data"], json!({"n": 1}), "{}", stored.text);
    assert_eq!(weir.metric("weir_events_ingested_total"), 1.0);
    // Another source may use the id.
    let other = json!({"id": "e1", "source": "pos", "type": "t", "data": {"n": 2}});
    let answer = weir.post_json("/v1/events", &other.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.body["duplicates"], json!([]));
    weir.stop();
}
