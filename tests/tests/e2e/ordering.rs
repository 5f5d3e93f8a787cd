//! Events with the same `partitionkey` reach a plugin one at a time in ingest
//! order; a retrying event holds up its own key only; events without a key run
//! in parallel.

use serde_json::Value;

use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::{Workspace, settled_event};

const KEYS: [&str; 4] = ["K0", "K1", "K2", "K3"];
const PER_KEY: u64 = 30;
const UNKEYED: u64 = 20;
/// The event of K1 that asks for a retry on its first attempt.
const BLOCKER: u64 = 4 * 5 + 1;

#[test]
fn same_key_events_run_in_ingest_order_and_a_retry_blocks_only_its_key() {
    let config = format!(
        "[plugins.test-recorder]\ninstances = 4\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();

    // Keys interleaved, n rising in ingest order; ten requests of twelve events.
    let events: Vec<Value> = (0..PER_KEY * KEYS.len() as u64)
        .map(|n| {
            let key = KEYS[(n % KEYS.len() as u64) as usize];
            recorder::event(n, Some(key), n == BLOCKER)
        })
        .chain((1000..1000 + UNKEYED).map(|n| recorder::event(n, None, false)))
        .collect();
    for chunk in events.chunks(12) {
        let answer = weir.post_json("/v1/events", &Value::Array(chunk.to_vec()).to_string());
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    wait_until_idle(&weir);

    let recorded = recorded(&weir);
    for (index, key) in KEYS.iter().enumerate() {
        let expected: Vec<u64> = (0..PER_KEY)
            .map(|i| i * KEYS.len() as u64 + index as u64)
            .collect();
        assert_eq!(
            recorded.order[*key], expected,
            "key {key}: each once, in order"
        );
    }
    assert_eq!(recorded.seen.len() as u64, UNKEYED);
    assert!(
        recorded.seen.values().all(|&count| count == 1),
        "{:?}",
        recorded.seen
    );

    // The blocker waited a second for its retry; K0's last event, ingested
    // after it, did not wait for it.
    let committed_at = |id: &str| {
        let event = settled_event(&weir, id);
        event["deliveries"][0]["result"]["committed_at_ms"]
            .as_u64()
            .expect("committed")
    };
    let blocker_done = committed_at(&format!("rec-{BLOCKER}"));
    let last_k0 = (PER_KEY - 1) * KEYS.len() as u64;
    assert!(
        committed_at(&format!("rec-{last_k0}")) < blocker_done,
        "another key's later event finished before the retrying head"
    );
    let blocker = settled_event(&weir, &format!("rec-{BLOCKER}"));
    assert_eq!(blocker["deliveries"][0]["attempts"], 2);
    weir.stop();
}
