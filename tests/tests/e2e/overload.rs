//! Under a burst far above what the plugins keep up with (here: while the
//! plugin is paused), weir sheds load with
//! 503/429 and `Retry-After`, keeps its memory bounded, processes every event
//! it accepted once, and opens admission again when the backlog drains. A
//! SIGTERM under load exits in time and loses nothing.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::slow;
use crate::support::{Weir, Workspace};

/// How long the burst lasts.
const BURST: Duration = Duration::from_secs(3);
const BATCH: u64 = 100;
/// The memory bound the burst must stay under (resident set of the weir process).
const RSS_BOUND_KB: u64 = 400 * 1024;

fn batch(first: u64) -> String {
    let events: Vec<Value> = (first..first + BATCH)
        .map(|n| recorder::event(n, None, false))
        .collect();
    json!(events).to_string()
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_burst_is_shed_with_retry_after_memory_stays_bounded_and_accepted_events_all_run() {
    let config = format!(
        "[ingest]\nbacklog_high_water = 300\nbacklog_low_water = 150\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let pid = weir.pid();
    // Held while the burst lasts: a plugin that keeps up with one client on
    // a fast disk would leave nothing to shed.
    let paused = weir.post_json("/v1/plugins/test-recorder/pause", "");
    assert_eq!(paused.status, 200, "{}", paused.text);

    let mut accepted = BTreeSet::new();
    let mut shed = 0;
    let mut max_rss = 0;
    let mut next = 0;
    let started = Instant::now();
    while started.elapsed() < BURST {
        let answer = weir.post_json("/v1/events", &batch(next));
        match answer.status {
            202 => accepted.extend(next..next + BATCH),
            503 | 429 => {
                assert!(answer.retry_after.is_some(), "{}", answer.text);
                shed += 1;
            }
            other => panic!("unexpected {other}: {}", answer.text),
        }
        next += BATCH;
        max_rss = max_rss.max(rss_kb(pid));
    }
    assert!(
        shed > 0,
        "a burst this size is shed ({} accepted)",
        accepted.len()
    );
    assert!(max_rss < RSS_BOUND_KB, "RSS reached {max_rss} kB");

    let resumed = weir.post_json("/v1/plugins/test-recorder/resume", "");
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    wait_until_idle(&weir);
    let seen = recorded(&weir).seen;
    let processed: BTreeSet<u64> = seen.keys().copied().collect();
    assert_eq!(
        processed, accepted,
        "every accepted event ran, and only those"
    );
    assert!(seen.values().all(|&count| count == 1));
    let after = weir.post_json("/v1/events", &batch(next));
    assert_eq!(after.status, 202, "admission reopens: {}", after.text);
    weir.stop();
}

#[test]
fn sigterm_under_load_exits_in_time_and_a_restart_finishes_every_event() {
    let config = format!("[dispatch]\nshutdown_grace_ms = 500\n{}", slow::CONFIG);
    let workspace = Workspace::new(&["test-slow"], &config);
    let weir = workspace.start();
    slow::post(&weir, 0, 40, 300);
    std::thread::sleep(Duration::from_millis(400));

    let stopping = Instant::now();
    weir.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(10),
        "took {:?}",
        stopping.elapsed()
    );

    let weir = workspace.start();
    let done = |weir: &Weir| {
        (0..40).all(|n| {
            let event = weir.get(&format!("/v1/events/slow-{n}")).body;
            event["deliveries"][0]["state"] == "done"
        })
    };
    weir.wait_for("every event to be done", |weir| done(weir).then_some(()));
    weir.stop();
}
