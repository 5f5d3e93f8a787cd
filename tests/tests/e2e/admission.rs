//! Ingest sheds load before storing anything: 503 above the backlog's
//! high-water mark until it falls below the low one, or while ready deliveries
//! wait too long for a slot; 429 for a tenant over its backlog quota or its
//! rate; an operator can pause and resume a plugin.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, recorded_in, wait_until_idle};
use crate::slow;
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

    let paused = weir.post_json("/v1/plugins/test-recorder/pause", "");
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

    let resumed = weir.post_json("/v1/plugins/test-recorder/resume", "");
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

    let unknown = weir.post_json("/v1/plugins/nobody/pause", "");
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
    let event = |n: u64, tenant: &str| recorder::tenant_event(n, tenant, None);

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

#[test]
fn a_tenant_over_its_backlog_quota_gets_429_while_other_tenants_are_admitted() {
    let config = format!(
        "[tenants.noisy]\nbacklog_high_water = 10\nbacklog_low_water = 5\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    weir.post_json("/v1/plugins/test-recorder/pause", "");
    for n in 0..10 {
        let answer = post(&weir, &[recorder::tenant_event(n, "noisy", None)]);
        assert_eq!(answer.status, 202, "event {n}: {}", answer.text);
    }

    let over = post(&weir, &[recorder::tenant_event(10, "noisy", None)]);
    assert_eq!(over.status, 429, "{}", over.text);
    assert_eq!(over.body["error"]["code"], "over_quota");
    assert!(
        over.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("\"noisy\" has 10 deliveries waiting")),
        "{}",
        over.text
    );
    assert_eq!(over.retry_after.as_deref(), Some("5"));
    assert_eq!(weir.get("/v1/events/rec-10").status, 404, "nothing stored");
    assert_eq!(
        weir.metric(r#"weir_ingest_rejected_total{reason="over_quota"}"#),
        1.0
    );
    let quiet = post(&weir, &[recorder::tenant_event(20, "quiet", None)]);
    assert_eq!(
        quiet.status, 202,
        "another tenant is admitted: {}",
        quiet.text
    );
    let tenants = weir.get("/v1/tenants").body;
    assert_eq!(
        tenants["tenants"],
        json!([
            {"tenant": "noisy", "backlog": 10, "paused": false, "backlog_quota": 10, "rate_per_sec": null},
            {"tenant": "quiet", "backlog": 1, "paused": false, "backlog_quota": null, "rate_per_sec": null},
        ])
    );

    weir.post_json("/v1/plugins/test-recorder/resume", "");
    wait_until_idle(&weir);
    let again = post(&weir, &[recorder::tenant_event(10, "noisy", None)]);
    assert_eq!(
        again.status, 202,
        "below the low-water mark: {}",
        again.text
    );
    wait_until_idle(&weir);
    let noisy = recorded_in(&weir, "test-recorder", "noisy").seen;
    assert_eq!(
        noisy.keys().copied().collect::<Vec<_>>(),
        (0..=10).collect::<Vec<_>>()
    );
    assert!(noisy.values().all(|&count| count == 1), "{noisy:?}");
    assert_eq!(recorded_in(&weir, "test-recorder", "quiet").seen.len(), 1);
    weir.stop();
}

/// The marks on how long the oldest ready delivery waits, and the slow
/// plugin with one slot.
pub const OLDEST_READY: &str = r#"
[ingest]
oldest_ready_high_water_ms = 1000
oldest_ready_low_water_ms = 500

[plugins.test-slow]
instances = 1

[[route]]
name = "slow"
match = { type = "slow" }
plugins = ["test-slow"]
"#;

#[test]
fn ingest_sheds_while_ready_deliveries_wait_too_long_but_not_for_a_paused_plugin() {
    let workspace = Workspace::new(&["test-slow"], OLDEST_READY);
    let weir = workspace.start();

    // Deliveries of a paused plugin wait by an operator's decision: no shedding.
    weir.post_json("/v1/plugins/test-slow/pause", "");
    slow::post(&weir, 0, 8, 300);
    weir.wait_for("the paused plugin's wait to show", |weir| {
        (weir.metric(r#"weir_oldest_ready_age_seconds{plugin="test-slow"}"#) >= 1.5).then_some(())
    });
    slow::post(&weir, 8, 1, 300);

    weir.post_json("/v1/plugins/test-slow/resume", "");
    sheds_for_the_wait_then_reopens(&weir, 9);
    weir.stop();
}

/// With one slot, nine 300 ms deliveries of the slow plugin keep the last
/// ones waiting for seconds: ingest sheds, naming the wait, and admits again
/// once the plugin has drained. Events from `slow-{next}` on are posted.
pub fn sheds_for_the_wait_then_reopens(weir: &Weir, mut next: u64) {
    let shed = weir.wait_for("ingest to shed for the wait", |weir| {
        let answer = weir.post_json(
            "/v1/events",
            &json!({"id": format!("slow-{next}"), "source": "tests", "type": "slow", "data": {"sleep_ms": 300}}).to_string(),
        );
        next += u64::from(answer.status == 202);
        (answer.status == 503).then_some(answer)
    });
    assert_eq!(shed.body["error"]["code"], "overloaded");
    assert!(
        shed.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("oldest ready delivery has waited")),
        "{}",
        shed.text
    );
    assert_eq!(shed.retry_after.as_deref(), Some("5"));

    weir.wait_for("the slow plugin to drain", |weir| {
        (slow::depth(weir) == 0.0).then_some(())
    });
    weir.wait_for("admission to reopen", |weir| {
        let answer = weir.post_json(
            "/v1/events",
            &json!({"id": format!("slow-{next}"), "source": "tests", "type": "slow", "data": {"sleep_ms": 1}}).to_string(),
        );
        (answer.status == 202).then_some(())
    });
}
