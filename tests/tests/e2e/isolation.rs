//! Every delivery runs in a fresh instance: what one event leaves in a
//! plugin's linear memory is never seen by the next, also when deliveries of
//! different tenants take turns in the same single pool slot.

use serde_json::{Value, json};

use crate::support::{Weir, Workspace};

/// What `test-leak` found at the start of each delivery of `tenant`, by event id.
fn found(weir: &Weir, tenant: &str) -> Vec<(String, Value)> {
    let path = format!("/v1/plugins/test-leak/state?tenant={tenant}&limit=1000");
    let answer = weir.get(&path);
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|entry| {
            (
                entry["key"].as_str().expect("key").to_owned(),
                entry["value"].clone(),
            )
        })
        .collect()
}

#[test]
fn no_delivery_sees_what_an_earlier_one_left_in_memory() {
    let config = r#"
[plugins.test-leak]
instances = 1

[[route]]
name = "leak"
match = { type = "leak" }
plugins = ["test-leak"]
"#;
    let workspace = Workspace::new(&["test-leak"], config);
    let weir = workspace.start();
    let events: Vec<Value> = (0..20)
        .map(|n| {
            let tenant = if n % 2 == 0 { "acme" } else { "globex" };
            json!({"id": format!("leak-{n}"), "source": "tests", "type": "leak", "tenant": tenant})
        })
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    weir.wait_for("every delivery to be done", |weir| {
        (weir.metric(r#"weir_deliveries_processed_total{plugin="test-leak"}"#) == 20.0)
            .then_some(())
    });

    for tenant in ["acme", "globex"] {
        let found = found(&weir, tenant);
        assert_eq!(found.len(), 10, "{tenant}: {found:?}");
        for (key, value) in found {
            assert_eq!(
                value,
                json!({"earlier_deliveries": 0, "left_behind": null}),
                "{tenant} {key} found another delivery's data"
            );
        }
    }
    weir.stop();
}
