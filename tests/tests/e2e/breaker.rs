//! A plugin whose attempts mostly fail is paused by its circuit breaker for a
//! cool-down, probed, and fed again once probes succeed; nothing is lost. A
//! route whose deliveries fail is broken off alone.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::{Workspace, delivery, settled_event};

#[test]
fn the_breaker_opens_on_failures_then_probes_and_every_event_still_runs_once() {
    let config = format!(
        r#"
[plugins.test-recorder]
instances = 1
backoff_initial_ms = 10
backoff_max_ms = 20
breaker_window = 4
breaker_failure_rate = 0.5
breaker_cooldown_ms = 1000
breaker_probes = 1
{}"#,
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    // Every first attempt asks for a retry: a downstream that fails, then recovers.
    let events: Vec<Value> = (0..8).map(|n| recorder::event(n, None, true)).collect();
    assert_eq!(
        weir.post_json("/v1/events", &json!(events).to_string())
            .status,
        202
    );

    weir.wait_for("the breaker to open", |weir| {
        (weir.get("/v1/plugins").body["plugins"][0]["breaker"] == "open").then_some(())
    });
    // Counted just after the state changes, so wait for it too.
    weir.wait_for("the trip to be counted", |weir| {
        (weir.metric(r#"weir_breaker_trips_total{plugin="test-recorder"}"#) >= 1.0).then_some(())
    });

    wait_until_idle(&weir);
    let seen = recorded(&weir).seen;
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(seen.values().all(|&count| count == 1), "{seen:?}");
    weir.stop();
}

/// Posts one `test-slow` event of `kind` and waits until it is done or dead.
fn run_one(weir: &crate::support::Weir, id: &str, kind: &str, sleep_ms: u64) -> Value {
    let event = json!({"id": id, "source": "tests", "type": kind, "data": {"sleep_ms": sleep_ms}});
    let answer = weir.post_json("/v1/events", &event.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    settled_event(weir, id)
}

#[test]
fn a_failing_route_is_broken_off_alone_while_the_plugins_other_route_runs() {
    let config = r#"
[plugins.test-slow]
instances = 2
deadline_ms = 300
max_attempts = 1
breaker_window = 4
breaker_failure_rate = 0.75
breaker_cooldown_ms = 3000
breaker_probes = 1

[[route]]
name = "broken"
match = { type = "slow.broken" }
plugins = ["test-slow"]

[[route]]
name = "steady"
match = { type = "slow" }
plugins = ["test-slow"]
"#;
    let workspace = Workspace::new(&["test-slow"], config);
    let weir = workspace.start();
    // Half of the plugin's attempts fail (under its 75% mark), all of one route's.
    for n in 0..4 {
        let good = run_one(&weir, &format!("good-{n}"), "slow", 1);
        assert_eq!(delivery(&good, "test-slow")["state"], "done");
        let bad = run_one(&weir, &format!("bad-{n}"), "slow.broken", 2000);
        assert_eq!(delivery(&bad, "test-slow")["state"], "dead");
    }
    let plugin = &weir.get("/v1/plugins").body["plugins"][0];
    assert_eq!(plugin["breaker"], "closed", "{plugin}");
    assert_eq!(
        plugin["route_breakers"],
        json!({"broken": "open", "steady": "closed"})
    );
    assert_eq!(
        weir.metric(r#"weir_route_breaker_trips_total{route="broken",plugin="test-slow"}"#),
        1.0
    );

    // The broken route's next delivery waits out the cool-down, no attempt
    // spent, while the steady route's run at once.
    let events = json!([
        {"id": "fixed", "source": "tests", "type": "slow.broken", "data": {"sleep_ms": 1}},
        {"id": "good-4", "source": "tests", "type": "slow", "data": {"sleep_ms": 1}},
        {"id": "good-5", "source": "tests", "type": "slow", "data": {"sleep_ms": 1}},
    ]);
    assert_eq!(
        weir.post_json("/v1/events", &events.to_string()).status,
        202
    );
    for id in ["good-4", "good-5"] {
        assert_eq!(
            delivery(&settled_event(&weir, id), "test-slow")["state"],
            "done"
        );
    }
    let waiting = weir.get("/v1/events/fixed").body;
    let waiting = delivery(&waiting, "test-slow");
    assert_eq!(waiting["state"], "scheduled", "{waiting}");
    assert_eq!(waiting["attempts"], 0, "{waiting}");

    // After the cool-down one probe runs, succeeds, and closes the breaker.
    let fixed = settled_event(&weir, "fixed");
    assert_eq!(delivery(&fixed, "test-slow")["state"], "done");
    assert_eq!(delivery(&fixed, "test-slow")["attempts"], 1);
    assert_eq!(
        weir.get("/v1/plugins").body["plugins"][0]["route_breakers"]["broken"],
        "closed"
    );
    weir.stop();
}
