//! Dispatch is fair: a tenant's burst does not hold up another tenant's few
//! events, and a tenant's `max_in_flight` caps its running deliveries
//! (`critical` events overtaking a `low` backlog is checked on both stores,
//! in `backends.rs`). All run the slow plugin, so backlogs build up as they
//! would behind a slow downstream.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Weir, Workspace};

/// The slow plugin with two slots, its route, and the per-delivery wait.
pub const CONFIG: &str = r#"
[plugins.test-slow]
instances = 2

[[route]]
name = "slow"
match = { type = "slow" }
plugins = ["test-slow"]
"#;

/// How long each delivery waits: long enough that backlogs build up, short
/// enough that the test takes seconds.
const SLEEP_MS: u64 = 40;

/// Posts `count` events of `tenant` at `priority`, in requests of up to
/// 1,000; their ids are `{tenant}-{priority}-{n}`.
pub fn post(weir: &Weir, tenant: &str, priority: &str, count: u64) {
    for first in (0..count).step_by(1000) {
        let events: Vec<Value> = (first..count.min(first + 1000))
            .map(|n| {
                json!({"id": format!("{tenant}-{priority}-{n}"), "source": "tests", "type": "slow",
                       "tenant": tenant, "priority": priority, "data": {"sleep_ms": SLEEP_MS}})
            })
            .collect();
        let answer = weir.post_json("/v1/events", &json!(events).to_string());
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
}

/// Deliveries the slow plugin has finished, over all tenants.
fn processed(weir: &Weir) -> u64 {
    let plugins = weir.get("/v1/plugins").body;
    plugins["plugins"][0]["deliveries"]["processed"]
        .as_u64()
        .unwrap_or_else(|| panic!("no processed count in {plugins}"))
}

/// Pending deliveries of `tenant`.
fn backlog(weir: &Weir, tenant: &str) -> u64 {
    let tenants = weir.get("/v1/tenants").body;
    tenants["tenants"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["tenant"] == tenant))
        .and_then(|t| t["backlog"].as_u64())
        .unwrap_or(0)
}

/// Polls closely (a delivery takes 40 ms) until `tenant` has nothing pending,
/// and returns the processed count seen right then.
fn processed_when_drained(weir: &Weir, tenant: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = processed(weir);
        if backlog(weir, tenant) == 0 {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "{tenant}'s events did not finish within a minute"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_tenants_burst_delays_another_tenant_by_a_bounded_amount() {
    let workspace = Workspace::new(&["test-slow"], CONFIG);
    let weir = workspace.start();
    post(&weir, "a", "normal", 50_000);
    let before = processed(&weir);
    post(&weir, "b", "normal", 100);
    let after = processed_when_drained(&weir, "b");
    let a_meanwhile = after - before - 100;
    // Tenants take turns, so while b's 100 are dispatched a gets at most 100
    // more; add the 2 of a's already running when b arrived, 2 finishing
    // alongside b's last, and the poll's lag. First come, first served, b
    // would wait for all 50,000 (about 1,000 s here).
    assert!(
        a_meanwhile <= 110,
        "a processed {a_meanwhile} while b's 100 waited; the bound is 110"
    );
    assert!(backlog(&weir, "a") > 45_000, "a's backlog is still there");
}

/// When each attempt of `ids`' slow deliveries ran, as (start, end) in ms.
fn run_intervals(weir: &Weir, ids: &[String]) -> Vec<(u64, u64)> {
    ids.iter()
        .map(|id| {
            let event = crate::support::settled_event(weir, id);
            let attempt = &crate::support::delivery(&event, "test-slow")["history"][0];
            let start = attempt["started_at_ms"].as_u64().expect("a start");
            let duration = attempt["duration_ms"].as_u64().expect("a duration");
            (start, start + duration)
        })
        .collect()
}

fn overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn a_tenant_capped_at_one_runs_one_delivery_at_a_time_while_others_run_alongside() {
    let config = format!("{CONFIG}\n[tenants.solo]\nmax_in_flight = 1\n");
    let workspace = Workspace::new(&["test-slow"], &config);
    let weir = workspace.start();
    // Without the cap, solo's later deliveries would take both slots once
    // other's one event is done.
    post(&weir, "solo", "normal", 4);
    post(&weir, "other", "normal", 1);
    let ids = |tenant: &str, count: u64| -> Vec<String> {
        (0..count).map(|n| format!("{tenant}-normal-{n}")).collect()
    };
    let solo = run_intervals(&weir, &ids("solo", 4));
    for (n, a) in solo.iter().enumerate() {
        for b in &solo[n + 1..] {
            assert!(!overlap(*a, *b), "solo's deliveries overlapped: {solo:?}");
        }
    }
    // The plugin's other slot served the uncapped tenant meanwhile.
    let other = run_intervals(&weir, &ids("other", 1));
    let alongside = other.iter().any(|o| solo.iter().any(|s| overlap(*o, *s)));
    assert!(
        alongside,
        "other ran only while solo did not: solo {solo:?}, other {other:?}"
    );
}
