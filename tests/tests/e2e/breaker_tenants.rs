//! Breakers are per tenant: one tenant whose events trap the plugin opens its
//! own breaker only; another tenant's events through the same plugin and
//! route keep flowing, and the first tenant's breaker closes once its events
//! are good again.

use serde_json::{Value, json};

use crate::breaker::{open_breakers, wait_until_open};
use crate::recorder::{self, recorded_in};
use crate::support::{Workspace, delivery, settled_event};

#[test]
fn one_tenants_traps_open_its_breaker_alone_and_it_closes_when_the_tenant_recovers() {
    let config = format!(
        r#"
[plugins.test-recorder]
instances = 2
max_attempts = 1
breaker_min_calls = 4
breaker_failure_rate = 0.5
breaker_cooldown_ms = 3000
breaker_probes = 1
{}"#,
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let trapping: Vec<Value> = (100..104)
        .map(|n| {
            let mut event = recorder::tenant_event(n, "acme", None);
            event["data"]["trap"] = json!(true);
            event
        })
        .collect();
    let answer = weir.post_json("/v1/events", &json!(trapping).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let breaker = wait_until_open(&weir, "record", "acme");
    assert_eq!(breaker["reason"], "trap", "{breaker}");

    // While acme's breaker is open, beta's events run at once, and acme's
    // good event waits out the cool-down, then probes and closes it.
    let mut events: Vec<Value> = (0..10)
        .map(|n| recorder::tenant_event(n, "beta", None))
        .collect();
    events.push(recorder::tenant_event(200, "acme", None));
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    for n in 0..10 {
        let event = settled_event(&weir, &format!("rec-{n}"));
        assert_eq!(delivery(&event, "test-recorder")["state"], "done");
    }
    let seen = recorded_in(&weir, "test-recorder", "beta").seen;
    assert_eq!(seen.len(), 10, "{seen:?}");
    assert!(seen.values().all(|&count| count == 1), "{seen:?}");
    assert!(
        open_breakers(&weir).iter().all(|b| b["tenant"] == "acme"),
        "{:?}",
        open_breakers(&weir)
    );
    let deferred_for = |tenant: &str| {
        weir.log_text().lines().any(|line| {
            let line: Value = serde_json::from_str(line).unwrap_or_default();
            line["fields"]["message"] == "circuit breaker open: delivery deferred"
                && line["fields"]["tenant"] == tenant
        })
    };
    assert!(
        !deferred_for("beta"),
        "beta's deliveries were never held back"
    );

    let recovered = settled_event(&weir, "rec-200");
    let recovered = delivery(&recovered, "test-recorder");
    assert_eq!(recovered["state"], "done", "{recovered}");
    assert_eq!(recovered["attempts"], 1, "{recovered}");
    weir.wait_for("acme's breaker to close", |weir| {
        open_breakers(weir).is_empty().then_some(())
    });
    assert_eq!(recorded_in(&weir, "test-recorder", "acme").seen.len(), 1);
    assert_eq!(
        weir.metric(r#"weir_breaker_trips_total{plugin="test-recorder",reason="trap"}"#),
        1.0
    );
    weir.stop();
}
