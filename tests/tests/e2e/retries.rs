//! `retry-later` is retried after its hint then dead-lettered; `fail` is dead
//! at once; a plugin that succeeds on the same event is not affected.

use serde_json::json;

use crate::support::{Weir, Workspace, delivery, settled_event};

const CONFIG: &str = r#"
[plugins.test-always-retry]
max_attempts = 3
backoff_initial_ms = 10
backoff_max_ms = 20

[[route]]
name = "fan-out"
match = { type = "pricing.recalculate" }
plugins = ["price-calculator", "test-always-retry", "test-always-fail"]
"#;

const IN_PLACE: &str = r#"weir_retries_in_place_total{plugin="test-always-retry"}"#;

#[test]
fn retrying_and_failing_plugins_are_dead_lettered_and_others_unaffected() {
    let workspace = Workspace::new(
        &["price-calculator", "test-always-retry", "test-always-fail"],
        CONFIG,
    );
    let weir = retry_and_fail(&workspace);
    // Each retry was due within the default two seconds: it waited in place.
    assert_eq!(weir.metric(IN_PLACE), 2.0);
    weir.stop();
}

#[test]
fn retries_scheduled_in_the_store_end_the_same_as_those_that_wait_in_place() {
    let config = format!("[dispatch]\nretry_in_place_max_ms = 0\n{CONFIG}");
    let workspace = Workspace::new(
        &["price-calculator", "test-always-retry", "test-always-fail"],
        &config,
    );
    let weir = retry_and_fail(&workspace);
    assert_eq!(weir.metric(IN_PLACE), 0.0);
    weir.stop();
}

#[test]
fn a_retry_comes_back_when_its_hint_says_not_after_the_backoff() {
    // A backoff of ten minutes: only the handler's 50 ms hint lets the
    // events end within the wait.
    let config = r#"
[plugins.test-retry-twice]
backoff_initial_ms = 600000
backoff_max_ms = 600000

[[route]]
name = "throttled"
match = { type = "throttled" }
plugins = ["test-retry-twice"]
"#;
    let workspace = Workspace::new(&["test-retry-twice"], config);
    let weir = workspace.start();
    let events: Vec<_> = (0..4)
        .map(|n| json!({"id": format!("h-{n}"), "source": "tests", "type": "throttled"}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    for n in 0..4 {
        let event = settled_event(&weir, &format!("h-{n}"));
        let retried = delivery(&event, "test-retry-twice");
        assert_eq!(retried["state"], "done", "{event:#}");
        assert_eq!(retried["attempts"], 3, "{event:#}");
        let starts: Vec<u64> = (retried["history"].as_array().expect("history").iter())
            .map(|a| a["started_at_ms"].as_u64().expect("start"))
            .collect();
        // At least the hint, and nowhere near the backoff (the slack is for
        // a busy machine, not for weir).
        let gaps: Vec<u64> = starts.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(
            gaps.iter().all(|gap| (50..10_000).contains(gap)),
            "{gaps:?}"
        );
    }
    weir.stop();
}

/// Posts one event to the three plugins and checks how each delivery ended.
fn retry_and_fail(workspace: &Workspace) -> Weir {
    let weir = workspace.start();
    let event = json!({"id": "r1", "source": "ops", "type": "pricing.recalculate", "data": {"listing_id": "L9"}});
    assert_eq!(weir.post_json("/v1/events", &event.to_string()).status, 202);

    let event = settled_event(&weir, "r1");
    let pricing = delivery(&event, "price-calculator");
    assert_eq!(
        (pricing["state"].clone(), pricing["attempts"].clone()),
        (json!("done"), json!(1))
    );

    let failing = delivery(&event, "test-always-fail");
    assert_eq!(failing["state"], "dead");
    assert_eq!(failing["attempts"], 1, "fail is final: no retry");
    assert_eq!(failing["error"], "rejected by test-always-fail");

    let retrying = delivery(&event, "test-always-retry");
    assert_eq!(retrying["state"], "dead");
    assert_eq!(retrying["attempts"], 3);
    let history = retrying["history"].as_array().expect("history");
    assert_eq!(history.len(), 3);
    assert!(
        history.iter().all(|a| a["outcome"] == "retry_later"),
        "{history:#?}"
    );
    // The handler asked for 50 ms; weir waited at least that long between attempts.
    let starts: Vec<u64> = history
        .iter()
        .map(|a| a["started_at_ms"].as_u64().expect("start"))
        .collect();
    assert!(starts.windows(2).all(|w| w[1] >= w[0] + 50), "{starts:?}");
    let error = retrying["error"].as_str().expect("error");
    assert!(error.contains("gave up after 3 attempts"), "{error}");

    assert_eq!(
        weir.metric(r#"weir_deliveries_retried_total{plugin="test-always-retry"}"#),
        2.0
    );
    assert_eq!(
        weir.metric(r#"weir_deliveries_dead_total{plugin="test-always-retry"}"#),
        1.0
    );
    assert_eq!(
        weir.metric(r#"weir_deliveries_dead_total{plugin="test-always-fail"}"#),
        1.0
    );
    assert_eq!(
        weir.metric(r#"weir_deliveries_failed_total{plugin="test-always-fail",reason="fail"}"#),
        1.0
    );
    assert_eq!(
        weir.metric(
            r#"weir_deliveries_failed_total{plugin="test-always-retry",reason="retry_later"}"#
        ),
        3.0
    );
    assert_eq!(
        weir.metric(r#"weir_deliveries_processed_total{plugin="price-calculator"}"#),
        1.0
    );
    assert_eq!(
        weir.metric(r#"weir_queue_depth{plugin="test-always-retry"}"#),
        0.0
    );
    weir
}
