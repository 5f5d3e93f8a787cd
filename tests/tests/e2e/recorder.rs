//! Driving the `test-recorder` fixture and reading back what it recorded.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::support::Weir;

/// The event type routed to `test-recorder`.
pub const TYPE: &str = "recorded";

/// The route to the recorder, as a config file writes it.
pub const ROUTE: &str = r#"
[[route]]
name = "record"
match = { type = "recorded" }
plugins = ["test-recorder"]
"#;

/// Event number `n` of `tenant`, with an ordering key or none.
pub fn tenant_event(n: u64, tenant: &str, key: Option<&str>) -> Value {
    let mut event = event(n, key, false);
    event["tenant"] = json!(tenant);
    event
}

/// `count` new events, all counted under `seen:7`: deliveries that change
/// one state key at once.
pub fn increments(count: u64) -> Vec<Value> {
    (0..count)
        .map(|n| {
            let mut event = event(7, None, false);
            event["id"] = json!(format!("inc-{n}"));
            event
        })
        .collect()
}

/// Event number `n`, with an ordering key or none; `retry_first` makes its
/// first attempt ask for a retry.
pub fn event(n: u64, key: Option<&str>, retry_first: bool) -> Value {
    let mut event = json!({
        "id": format!("rec-{n}"),
        "source": "tests",
        "type": TYPE,
        "data": {"n": n, "retry_first": retry_first},
    });
    if let Some(key) = key {
        event["partitionkey"] = json!(key);
    }
    event
}

/// Event number `n`, whose every attempt traps.
pub fn trap_event(n: u64) -> Value {
    let mut event = event(n, None, false);
    event["data"]["trap"] = json!(true);
    event
}

/// Checks that `letter`, the delivery of a [`trap_event`] with
/// `poison_after = 2`, was set aside after its two traps in a row, with its
/// reason; `context` names the run in a failure.
pub fn assert_set_aside_after_two_traps(letter: &Value, context: &str) {
    assert_eq!(letter["state"], "dead", "{context}{letter}");
    assert_eq!(letter["attempts"], 2, "{context}{letter}");
    let error = letter["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("2 traps or limit hits in a row") && error.contains("trap"),
        "{context}{letter}"
    );
}

/// What the recorder saw: the numbers handled per ordering key, in the order
/// handled, and how many times each unkeyed number was handled.
#[derive(Debug, Default)]
pub struct Recorded {
    /// `order:<key>` entries.
    pub order: BTreeMap<String, Vec<u64>>,
    /// `seen:<n>` entries.
    pub seen: BTreeMap<u64, u64>,
}

/// Reads the state of the plugin `test-recorder`.
pub fn recorded(weir: &Weir) -> Recorded {
    recorded_by(weir, "test-recorder")
}

/// Reads the state of a plugin running the recorder component, page by page.
pub fn recorded_by(weir: &Weir, plugin: &str) -> Recorded {
    recorded_in(weir, plugin, "default")
}

/// Reads what `plugin` recorded for the events of `tenant`.
pub fn recorded_in(weir: &Weir, plugin: &str, tenant: &str) -> Recorded {
    read_recorded(weir, plugin, tenant).expect("weir answers 200")
}

/// What `test-recorder` recorded for the default tenant, or `None` while
/// weir answers 503 (its storage is failing over).
pub fn recorded_when_available(weir: &Weir) -> Option<Recorded> {
    read_recorded(weir, "test-recorder", "default")
}

fn read_recorded(weir: &Weir, plugin: &str, tenant: &str) -> Option<Recorded> {
    let mut recorded = Recorded::default();
    let first = format!("/v1/plugins/{plugin}/state?tenant={tenant}&limit={PAGE}");
    let mut path = first.clone();
    // Bounded: every page but the last is full.
    for _ in 0..MAX_PAGES {
        let answer = weir.get(&path);
        if answer.status == 503 {
            return None;
        }
        assert_eq!(answer.status, 200, "{}", answer.text);
        add_entries(&mut recorded, &answer.body);
        match answer.body["next_after"].as_str() {
            Some(after) => path = format!("{first}&after={after}"),
            None => return Some(recorded),
        }
    }
    panic!("{plugin} has more than {MAX_PAGES} pages of state");
}

const PAGE: usize = 1000;
const MAX_PAGES: usize = 100;

fn add_entries(recorded: &mut Recorded, body: &Value) {
    for entry in body["entries"].as_array().expect("entries") {
        let key = entry["key"].as_str().expect("key");
        if let Some(partition) = key.strip_prefix("order:") {
            let numbers = entry["value"].as_array().expect("a list of numbers");
            let numbers = numbers
                .iter()
                .map(|n| n.as_u64().expect("number"))
                .collect();
            recorded.order.insert(partition.to_owned(), numbers);
        } else if let Some(n) = key.strip_prefix("seen:") {
            let n = n.parse().expect("seen:<n>");
            recorded
                .seen
                .insert(n, entry["value"].as_u64().expect("count"));
        }
    }
}

/// Waits until the recorder has no delivery pending.
pub fn wait_until_idle(weir: &Weir) {
    weir.wait_for("the recorder's queue to drain", |weir| {
        (weir.metric(r#"weir_queue_depth{plugin="test-recorder"}"#) == 0.0).then_some(())
    });
}
