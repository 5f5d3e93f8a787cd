//! `retry-later` is a downstream asking weir to slow down: it lowers the
//! plugin's adaptive concurrency, each retry waits at least the hint, and a
//! breaker opens only when almost nothing succeeds.

use serde_json::{Value, json};

use crate::breaker::{open_breakers, quick_breaker, wait_until_open};
use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::{Workspace, delivery};

/// The hint `test-always-retry` gives.
const HINT_MS: u64 = 50;

#[test]
fn a_plugin_that_always_asks_to_retry_slows_down_honours_its_hint_and_then_trips() {
    let config = r#"
[plugin_limits]
max_attempts = 1000

[plugins.test-always-retry]
instances = 4
max_attempts = 1000
backoff_initial_ms = 1
backoff_max_ms = 2
breaker_window_ms = 2000
breaker_min_calls = 10
breaker_cooldown_ms = 60000

[[route]]
name = "throttled"
match = { type = "throttled" }
plugins = ["test-always-retry"]
"#;
    let workspace = Workspace::new(&["test-always-retry"], config);
    let weir = workspace.start();
    let events: Vec<Value> = (0..10)
        .map(|n| json!({"id": format!("t-{n}"), "source": "tests", "type": "throttled"}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    weir.wait_for("the adaptive limit to drop", |weir| {
        let limit = weir.metric(r#"weir_concurrency_limit{plugin="test-always-retry"}"#);
        (limit > 0.0 && limit < 4.0).then_some(())
    });
    // Nothing succeeds for half the window: the breaker opens, and holds
    // the deliveries back without spending instances on them.
    let breaker = wait_until_open(&weir, "throttled", "default");
    assert_eq!(breaker["reason"], "retry_later", "{breaker}");
    assert_eq!(breaker["rate"], 1.0, "{breaker}");
    assert!(breaker["calls"].as_u64() >= Some(10), "{breaker}");
    assert_eq!(
        weir.metric(r#"weir_breaker_trips_total{plugin="test-always-retry",reason="retry_later"}"#),
        1.0
    );

    // Each retry waited at least the handler's hint.
    for n in 0..10 {
        let event = weir.get(&format!("/v1/events/t-{n}")).body;
        let history = delivery(&event, "test-always-retry")["history"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for pair in history.windows(2) {
            let ended = pair[0]["started_at_ms"].as_u64().unwrap_or_default()
                + pair[0]["duration_ms"].as_u64().unwrap_or_default();
            let next = pair[1]["started_at_ms"].as_u64().unwrap_or_default();
            assert!(
                next >= ended + HINT_MS,
                "a retry came before its hint: {event}"
            );
        }
    }
    weir.stop();
}

#[test]
fn a_downstream_that_throttles_half_the_calls_never_trips_the_breaker() {
    let config = quick_breaker("");
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    // Every first attempt asks for a retry: half of all calls are throttled.
    let events: Vec<Value> = (0..8).map(|n| recorder::event(n, None, true)).collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    wait_until_idle(&weir);
    let seen = recorded(&weir).seen;
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(seen.values().all(|&count| count == 1), "{seen:?}");
    assert!(open_breakers(&weir).is_empty());
    assert_eq!(
        weir.metric(r#"weir_breaker_trips_total{plugin="test-recorder",reason="retry_later"}"#),
        0.0
    );
    weir.stop();
}
