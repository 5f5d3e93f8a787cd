//! Crashes at any moment lose no accepted event and apply no effect twice.
//!
//! The harness (`kill_nine_at_random_moments...`) is sized by environment
//! variables so that CI runs a short version and a soak can run long:
//! `WEIR_CRASH_KILLS` (default 5) and `WEIR_CRASH_EVENTS` (default 4000), e.g.
//! `WEIR_CRASH_KILLS=20 WEIR_CRASH_EVENTS=20000 cargo test -p weir-tests --release kill_nine`.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::recorder::{self, Recorded, recorded, recorded_by, wait_until_idle};
use crate::support::{Weir, Workspace, delivery, settled_event};

/// Two plugins from one component, each with its own state.
const PLUGINS: [(&str, &str); 2] = [
    ("test-recorder", "test-recorder"),
    ("test-recorder", "recorder-copy"),
];

const CONFIG: &str = r#"
[plugin_defaults]
instances = 4

[[route]]
name = "record"
match = { type = "recorded" }
plugins = ["test-recorder", "recorder-copy"]
"#;

/// Ordering keys in the harness: every fourth event has none.
const KEYS: u64 = 50;
const BATCH: u64 = 50;

fn key_of(n: u64) -> Option<String> {
    (n % 4 != 3).then(|| format!("K{}", n % KEYS))
}

fn batch(first: u64, count: u64) -> String {
    let events: Vec<Value> = (first..first + count)
        .map(|n| recorder::event(n, key_of(n).as_deref(), false))
        .collect();
    Value::Array(events).to_string()
}

/// Checks one plugin's record against events `0..count`: each handled once,
/// each key's events in ingest order.
fn assert_exactly_once_in_order(recorded: &Recorded, count: u64, plugin: &str) {
    for (key, order) in &recorded.order {
        let expected: Vec<u64> = (0..count)
            .filter(|&n| key_of(n).as_deref() == Some(key.as_str()))
            .collect();
        assert_eq!(
            order, &expected,
            "{plugin}, key {key}: once each, in ingest order"
        );
    }
    let keyed: usize = recorded.order.values().map(Vec::len).sum();
    let unkeyed = (0..count).filter(|&n| key_of(n).is_none()).count();
    assert_eq!(
        keyed + recorded.seen.len(),
        count as usize,
        "{plugin}: none lost"
    );
    assert_eq!(
        recorded.seen.len(),
        unkeyed,
        "{plugin}: every unkeyed event seen"
    );
    assert!(
        recorded.seen.values().all(|&c| c == 1),
        "{plugin}: an unkeyed event ran twice"
    );
}

#[test]
fn kill_nine_at_random_moments_loses_nothing_and_applies_nothing_twice() {
    let kills: u64 = env_number("WEIR_CRASH_KILLS", 5);
    let events: u64 = env_number("WEIR_CRASH_EVENTS", 4000).div_ceil(BATCH) * BATCH;
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let workspace = Workspace::with_named_plugins(&PLUGINS, CONFIG);

    // The client's log: the batches answered 202 are 0..acked.
    let mut acked = 0;
    for kill in 0..kills {
        let weir = workspace.start();
        let pid = weir.pid();
        let delay = Duration::from_millis(rng.u64(50..800));
        let killer = std::thread::spawn(move || {
            std::thread::sleep(delay);
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        });
        // Posts until weir dies under the client; a batch without an answer is
        // sent again after the restart, as a real client would.
        let started = Instant::now();
        while acked < events && started.elapsed() < delay + Duration::from_secs(5) {
            match weir.try_post("/v1/events", "application/json", &batch(acked, BATCH)) {
                Some(answer) if answer.status == 202 => acked += BATCH,
                Some(answer) => panic!(
                    "seed {seed}, kill {kill}: {} {}",
                    answer.status, answer.text
                ),
                None => break,
            }
        }
        killer.join().expect("killer thread");
        weir.kill();
    }

    let weir = workspace.start();
    while acked < events {
        let answer = weir.post_json("/v1/events", &batch(acked, BATCH));
        assert_eq!(answer.status, 202, "{}", answer.text);
        acked += BATCH;
    }
    for (_, plugin) in PLUGINS {
        weir.wait_for(&format!("{plugin} to drain"), |weir| {
            (weir.metric(&format!(r#"weir_queue_depth{{plugin="{plugin}"}}"#)) == 0.0).then_some(())
        });
        let recorded = recorded_by(&weir, plugin);
        assert_exactly_once_in_order(&recorded, events, plugin);
    }
    weir.stop();
}

#[test]
fn a_crash_on_either_side_of_the_commit_applies_effects_once() {
    for point in ["before-commit", "after-commit"] {
        let workspace = Workspace::new(&["test-recorder"], recorder::ROUTE);
        let failpoint = format!("{point}:abort:5");
        let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", failpoint.as_str())]);
        // The abort may beat the answer to the client; the events were stored
        // before any handler ran, so both outcomes are fine here.
        if let Some(answer) = weir.try_post("/v1/events", "application/json", &batch(0, 12)) {
            assert_eq!(answer.status, 202, "{}", answer.text);
        }
        let exit = weir.wait_exit(Duration::from_secs(60));
        assert_eq!(
            exit, None,
            "{point}: weir should have aborted (killed by a signal)"
        );

        let weir = workspace.start();
        wait_until_idle(&weir);
        assert_exactly_once_in_order(&recorded(&weir), 12, point);
        weir.stop();
    }
}

#[test]
fn a_lost_worker_is_replaced_once_its_lease_expires() {
    let config = format!(
        "[dispatch]\nlease_grace_ms = 0\n[plugins.test-recorder]\ndeadline_ms = 500\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    // The first delivery's task dies after its handler ran, holding its lease.
    let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", "before-commit:panic:1")]);
    let answer = weir.post_json("/v1/events", &batch(3, 1));
    assert_eq!(answer.status, 202, "{}", answer.text);

    let event = settled_event(&weir, "rec-3");
    let delivery = delivery(&event, "test-recorder");
    assert_eq!(delivery["state"], "done", "{event:#}");
    let outcomes: Vec<&Value> = delivery["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|attempt| &attempt["outcome"])
        .collect();
    assert_eq!(outcomes, ["lease_expired", "ack"], "{event:#}");
    assert_eq!(
        recorded(&weir).seen.get(&3),
        Some(&1),
        "the lost attempt wrote nothing"
    );
    weir.stop();
}

#[test]
fn a_delivery_that_crashes_weir_every_time_is_dead_after_its_attempts() {
    const MAX_ATTEMPTS: usize = 3;
    let config = format!(
        "[plugins.test-recorder]\nmax_attempts = {MAX_ATTEMPTS}\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    // Every run of the handler ends weir before its commit, as a delivery
    // that crashes the process would; the lease before it is on a quiet
    // node, with no ingest after it to carry it to disk.
    let crash = [("WEIR_FAILPOINT", "before-commit:abort:1")];
    let weir = workspace.start_with_env(&crash);
    if let Some(answer) = weir.try_post("/v1/events", "application/json", &batch(7, 1)) {
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    let mut exit = weir.wait_exit(Duration::from_secs(60));
    for run in 2..=MAX_ATTEMPTS {
        assert_eq!(exit, None, "attempt {}: weir should have aborted", run - 1);
        // Only until it listens: the attempt may end it before its plugins
        // are reported loaded.
        let weir = Weir::start_listening(&workspace.serve_args(), &crash, workspace.path());
        exit = weir.wait_exit(Duration::from_secs(60));
    }
    assert_eq!(
        exit, None,
        "attempt {MAX_ATTEMPTS}: weir should have aborted"
    );

    // One start past the last attempt: the delivery is given up on
    // without running again.
    let weir = workspace.start_with_env(&crash);
    let event = settled_event(&weir, "rec-7");
    let delivery = delivery(&event, "test-recorder");
    assert_eq!(delivery["state"], "dead", "{event:#}");
    let error = delivery["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&format!("gave up after {MAX_ATTEMPTS} attempts")),
        "{event:#}"
    );
    assert_eq!(recorded(&weir).seen.get(&7), None, "no attempt committed");
    weir.stop();
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
