//! Ingest sheds load before storing anything: 503 above the backlog's
//! high-water mark until it falls below the low one, 429 for a tenant over its
//! rate; an operator can pause and resume a plugin.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::{Weir, Workspace};

fn post(weir: &Weir, events: &[Value]) -> crate::support::Answer {
    weir.post_json("/v1/events", &json!(events).to_string())
}

#[test]
fn a_paused_plugin_backs_up_until_ingest_sheds_then_drains_and_admission_reopens() {
    let config = format!(
        "[ingest]\nbacklog_high_water = 20\nbacklog_low_water = 5\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();

    let paused = weir.post("/v1/plugins/test-recorder/pause", "", "");
    assert_eq!(
        paused.body,
        json!({"name": "test-recorder", "paused": true})
    );
    assert_eq!(weir.get("/v1/plugins").body["plugins"][0]["paused"], true);
    for n in 0..20 {
        let answer = post(&weir, &[recorder::event(n, None, false)]);
        assert_eq!(answer.status, 202, "event {n}: {}", answer.text);
    }
    let shed = post(&weir, &[recorder::event(20, None, false)]);
    assert_eq!(shed.status, 503, "{}", shed.text);
    assert_eq!(shed.body["error"]["code"], "overloaded");
    assert_eq!(shed.retry_after.as_deref(), Some("5"));
    assert_eq!(
        weir.get("/v1/events/rec-20").status,
        404,
        "a shed event is not stored"
    );
    assert_eq!(
        weir.metric(r#"weir_ingest_rejected_total{reason="overloaded"}"#),
        1.0
    );

    let resumed = weir.post("/v1/plugins/test-recorder/resume", "", "");
    assert_eq!(resumed.body["paused"], false);
    wait_until_idle(&weir);
    let again = post(&weir, &[recorder::event(20, None, false)]);
    assert_eq!(
        again.status, 202,
        "admission reopens below the low-water mark: {}",
        again.text
    );
    wait_until_idle(&weir);
    let seen = recorded(&weir).seen;
    assert_eq!(seen.len(), 21);
    assert!(seen.values().all(|&count| count == 1), "{seen:?}");

    let unknown = weir.post("/v1/plugins/nobody/pause", "", "");
    assert_eq!(unknown.status, 404, "{}", unknown.text);
    weir.stop();
}

#[test]
fn a_tenant_over_its_rate_gets_429_and_other_tenants_do_not() {
    let config = format!(
        "[tenants.acme]\nrate_per_sec = 0.5\nburst = 3\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let event = |n: u64, tenant: &str| {
        let mut event = recorder::event(n, None, false);
        event["tenant"] = json!(tenant);
        event
    };

    let burst = post(
        &weir,
        &[event(1, "acme"), event(2, "acme"), event(3, "acme")],
    );
    assert_eq!(burst.status, 202, "{}", burst.text);
    let over = post(&weir, &[event(4, "acme")]);
    assert_eq!(over.status, 429, "{}", over.text);
    assert_eq!(over.body["error"]["code"], "rate_limited");
    let wait: u64 = over
        .retry_after
        .as_deref()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!((1..=2).contains(&wait), "Retry-After {wait}");

    // A batch is refused whole: the other tenant's event in it is not stored.
    let mixed = post(&weir, &[event(5, "globex"), event(6, "acme")]);
    assert_eq!(mixed.status, 429, "{}", mixed.text);
    assert_eq!(weir.get("/v1/events/rec-5").status, 404);
    let other = post(&weir, &[event(5, "globex")]);
    assert_eq!(
        other.status, 202,
        "another tenant is not limited: {}",
        other.text
    );
    weir.stop();
}
