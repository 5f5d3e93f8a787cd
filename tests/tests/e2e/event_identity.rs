//! An event is unique by tenant, source and id, as CloudEvents defines it:
//! other tenants and other sources may use the same id without meeting. (A
//! resent event, and one that reuses an identity with other content, are
//! checked on both stores in `backends.rs`.)

use serde_json::json;

use crate::auth::{call, start_with_tokens};

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
