//! Driving the `test-slow` fixture: a plugin that waits like one calling a slow
//! downstream.

use serde_json::{Value, json};

use crate::support::Weir;

/// The slow plugin with four slots and its route, as a config file writes them.
pub const CONFIG: &str = r#"
[plugins.test-slow]
instances = 4

[[route]]
name = "slow"
match = { type = "slow" }
plugins = ["test-slow"]
"#;

/// Posts events `slow-{first}`.. that each take `sleep_ms` to handle.
pub fn post(weir: &Weir, first: u64, count: u64, sleep_ms: u64) {
    let events: Vec<Value> = (first..first + count)
        .map(|n| json!({"id": format!("slow-{n}"), "source": "tests", "type": "slow", "data": {"sleep_ms": sleep_ms}}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
}

/// The slow plugin's pending deliveries.
pub fn depth(weir: &Weir) -> f64 {
    weir.metric(r#"weir_queue_depth{plugin="test-slow"}"#)
}
