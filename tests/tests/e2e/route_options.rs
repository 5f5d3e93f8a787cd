//! A route's options override the limits of the plugin it sends to, for its
//! deliveries only: attempts and backoff, the deadline, and ordering by
//! `partitionkey`.

use serde_json::json;

use crate::support::{Workspace, delivery, settled_event};

const CONFIG: &str = r#"
[plugins.test-always-retry]
max_attempts = 3
backoff_initial_ms = 10
backoff_max_ms = 20

[plugins.test-slow]
max_attempts = 1

[[route]]
name = "strict"
match = { type = "fail.strict" }
plugins = ["test-always-retry"]
options = { max_attempts = 1 }

[[route]]
name = "lenient"
match = { type = "fail.lenient" }
plugins = ["test-always-retry"]

[[route]]
name = "quick"
match = { type = "slow.quick" }
plugins = ["test-slow"]
options = { deadline_ms = 300 }

[[route]]
name = "patient"
match = { type = "slow.patient" }
plugins = ["test-slow"]
"#;

#[test]
fn a_routes_options_apply_to_its_deliveries_only() {
    let workspace = Workspace::new(&["test-always-retry", "test-slow"], CONFIG);
    let weir = workspace.start();
    let event = |id: &str, kind: &str| json!({"id": id, "source": "tests", "type": kind, "data": {"sleep_ms": 1000}});
    let events = json!([
        event("strict", "fail.strict"),
        event("lenient", "fail.lenient"),
        event("quick", "slow.quick"),
        event("patient", "slow.patient"),
    ]);
    let answer = weir.post_json("/v1/events", &events.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let attempts = |id: &str, plugin: &str| delivery(&settled_event(&weir, id), plugin).clone();
    let strict = attempts("strict", "test-always-retry");
    assert_eq!(strict["state"], "dead", "{strict}");
    assert_eq!(strict["attempts"], 1, "the route's max_attempts: {strict}");
    let lenient = attempts("lenient", "test-always-retry");
    assert_eq!(lenient["state"], "dead", "{lenient}");
    assert_eq!(
        lenient["attempts"], 3,
        "the plugin's max_attempts: {lenient}"
    );

    let quick = attempts("quick", "test-slow");
    assert_eq!(quick["state"], "dead", "{quick}");
    assert_eq!(
        quick["history"][0]["outcome"], "deadline",
        "the route's 300 ms: {quick}"
    );
    let patient = attempts("patient", "test-slow");
    assert_eq!(patient["state"], "done", "the plugin's 5 s: {patient}");
    weir.stop();
}

const ORDERING_CONFIG: &str = r#"
[[route]]
name = "in-order"
match = { type = "slow.ordered" }
plugins = ["test-slow"]

[[route]]
name = "any-order"
match = { type = "slow.free" }
plugins = ["test-slow"]
options = { ordering = "none" }
"#;

#[test]
fn a_route_with_ordering_none_runs_deliveries_of_one_key_at_once() {
    let workspace = Workspace::new(&["test-slow"], ORDERING_CONFIG);
    let weir = workspace.start();
    let event = |id: &str, kind: &str| json!({"id": id, "source": "tests", "type": kind, "partitionkey": "k", "data": {"sleep_ms": 1500}});
    let events = json!([
        event("ordered-1", "slow.ordered"),
        event("ordered-2", "slow.ordered"),
        event("free-1", "slow.free"),
        event("free-2", "slow.free"),
    ]);
    let answer = weir.post_json("/v1/events", &events.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let state = |weir: &crate::support::Weir, id: &str| {
        let event = weir.get(&format!("/v1/events/{id}")).body;
        delivery(&event, "test-slow")["state"].clone()
    };
    // Both unordered deliveries run at once, while the second ordered one
    // waits behind the first (the plugin has four slots).
    weir.wait_for("both unordered deliveries to run", |weir| {
        let running = ["free-1", "free-2"].map(|id| state(weir, id) == "leased");
        running.iter().all(|&r| r).then_some(())
    });
    assert_eq!(state(&weir, "ordered-2"), "waiting");
    for id in ["ordered-1", "ordered-2", "free-1", "free-2"] {
        let done = delivery(&settled_event(&weir, id), "test-slow").clone();
        assert_eq!(done["state"], "done", "{done}");
    }
    weir.stop();
}
