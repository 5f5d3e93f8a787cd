//! A plugin whose attempts mostly fail is paused by its circuit breaker for a
//! cool-down, probed, and fed again once probes succeed; nothing is lost.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::Workspace;

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
