//! Circuit breakers judge a plugin's health, per route and tenant: traps open
//! them, a poison event is set aside instead of being probed again and
//! again, fresh deliveries probe, and nothing is lost.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::{Weir, Workspace, delivery, settled_event};

/// `test-recorder` on its route, with [`quick_breaker_for`]'s settings.
pub fn quick_breaker(extra: &str) -> String {
    format!(
        "{}{}",
        quick_breaker_for("test-recorder", extra),
        recorder::ROUTE
    )
}

/// `plugin`'s settings: fast retries and a breaker that judges after four
/// calls and cools down in a second; `extra` adds settings.
pub fn quick_breaker_for(plugin: &str, extra: &str) -> String {
    format!(
        "[plugins.{plugin}]\ninstances = 2\nbackoff_initial_ms = 10\nbackoff_max_ms = 20\n\
         {extra}breaker_min_calls = 4\nbreaker_failure_rate = 0.5\n\
         breaker_cooldown_ms = 1000\nbreaker_probes = 1\n"
    )
}

/// The breakers that are not closed, of every plugin.
pub fn open_breakers(weir: &Weir) -> Vec<Value> {
    let plugins = weir.get("/v1/plugins").body;
    let plugins = plugins["plugins"].as_array().cloned().unwrap_or_default();
    plugins
        .iter()
        .flat_map(|plugin| plugin["breakers"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The breaker of `route` and `tenant` once it is open.
pub fn wait_until_open(weir: &Weir, route: &str, tenant: &str) -> Value {
    weir.wait_for(
        &format!("the breaker of {route}/{tenant} to open"),
        |weir| {
            open_breakers(weir).into_iter().find(|breaker| {
                breaker["route"] == route
                    && breaker["tenant"] == tenant
                    && breaker["state"] == "open"
            })
        },
    )
}

#[test]
fn traps_open_the_breaker_and_a_poison_event_is_set_aside_while_good_events_run_once() {
    let config = quick_breaker("max_attempts = 10\npoison_after = 2\n");
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    assert!(
        weir.get("/metrics")
            .text
            .contains(r#"weir_breaker_trips_total{plugin="test-recorder",reason="trap"} 0"#),
        "the trips are shown at zero before the first"
    );
    let poison: Vec<Value> = (100..104).map(recorder::trap_event).collect();
    let answer = weir.post_json("/v1/events", &json!(poison).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let breaker = wait_until_open(&weir, "record", "default");
    assert_eq!(breaker["reason"], "trap", "{breaker}");
    assert!(breaker["rate"].as_f64() >= Some(0.5), "{breaker}");
    assert!(breaker["calls"].as_u64() >= Some(4), "{breaker}");
    assert!(breaker["open_until"].is_string(), "{breaker}");
    assert_eq!(
        weir.get("/v1/plugins").body["plugins"][0]["breaker"],
        "open"
    );
    weir.wait_for("the trip to be counted", |weir| {
        (weir.metric(r#"weir_breaker_trips_total{plugin="test-recorder",reason="trap"}"#) >= 1.0)
            .then_some(())
    });

    // Good events wait out the cool-down, probe, and run once each.
    let good: Vec<Value> = (0..8).map(|n| recorder::event(n, None, false)).collect();
    let answer = weir.post_json("/v1/events", &json!(good).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    wait_until_idle(&weir);
    let seen = recorded(&weir).seen;
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert!(seen.values().all(|&count| count == 1), "{seen:?}");

    // Each poison event was set aside after two traps in a row, with its
    // reason, though it had eight attempts left.
    for n in 100..104 {
        let event = settled_event(&weir, &format!("rec-{n}"));
        let letter = delivery(&event, "test-recorder");
        recorder::assert_set_aside_after_two_traps(letter, "");
    }
    weir.stop();
}

/// Posts one `test-slow` event of `kind` and waits until it is done or dead.
fn run_one(weir: &Weir, id: &str, kind: &str, sleep_ms: u64) -> Value {
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
breaker_min_calls = 4
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
    let breakers = open_breakers(&weir);
    assert_eq!(breakers.len(), 1, "{breakers:?}");
    let broken = &breakers[0];
    assert_eq!(
        (
            &broken["route"],
            &broken["tenant"],
            &broken["state"],
            &broken["reason"]
        ),
        (
            &json!("broken"),
            &json!("default"),
            &json!("open"),
            &json!("deadline")
        ),
        "{broken}"
    );
    assert_eq!(
        weir.metric(r#"weir_breaker_trips_total{plugin="test-slow",reason="deadline"}"#),
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

    // After the cool-down one fresh probe runs, succeeds, and closes the breaker.
    let fixed = settled_event(&weir, "fixed");
    assert_eq!(delivery(&fixed, "test-slow")["state"], "done");
    assert_eq!(delivery(&fixed, "test-slow")["attempts"], 1);
    weir.wait_for("the breaker to close", |weir| {
        open_breakers(weir).is_empty().then_some(())
    });
    weir.stop();
}

#[test]
fn a_plugin_that_traps_on_everything_stops_spending_instances_and_its_neighbour_runs_on() {
    let config = format!(
        r#"
# Above the default maximum of 25 attempts.
[plugin_limits]
max_attempts = 1000

[plugins.test-recorder]
instances = 2
backoff_initial_ms = 10
backoff_max_ms = 20
max_attempts = 1000
poison_after = 1000
breaker_min_calls = 4
breaker_cooldown_ms = 600000
{}
[[route]]
name = "canary"
match = {{ type = "canary" }}
plugins = ["test-ack"]
"#,
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder", "test-ack"], &config);
    let weir = workspace.start();
    let trapping: Vec<Value> = (0..10).map(recorder::trap_event).collect();
    let answer = weir.post_json("/v1/events", &json!(trapping).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    wait_until_open(&weir, "record", "default");

    // Once the attempts running when it opened are over, no instance runs
    // the plugin again during the cool-down; its deliveries wait, none lost.
    let runs = r#"weir_handler_duration_seconds_count{plugin="test-recorder"}"#;
    let busy = r#"weir_instances_busy{plugin="test-recorder"}"#;
    let before = weir.wait_for("the running attempts to end", |weir| {
        let counted = weir.metric(runs);
        (weir.metric(busy) == 0.0 && weir.metric(runs) == counted).then_some(counted)
    });
    let canaries: Vec<Value> = (0..20)
        .map(|n| json!({"id": format!("canary-{n}"), "source": "tests", "type": "canary"}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(canaries).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    for n in 0..20 {
        let event = settled_event(&weir, &format!("canary-{n}"));
        assert_eq!(delivery(&event, "test-ack")["state"], "done");
    }
    assert_eq!(weir.metric(runs), before, "the trapping plugin ran again");
    assert_eq!(
        weir.metric(r#"weir_queue_depth{plugin="test-recorder"}"#),
        10.0
    );
    weir.stop();
}
