//! Operators pause and resume a tenant: its deliveries are held in the queue
//! while other tenants run, the pause (and a plugin's) survives a restart, and
//! resuming runs every held delivery once, in order.

use serde_json::{Value, json};

use crate::recorder::{self, recorded_in, wait_until_idle};
use crate::support::{Weir, delivery, settled_event};

fn state_of(weir: &Weir, id: &str) -> Value {
    let event = weir.get(&format!("/v1/events/{id}")).body;
    delivery(&event, "test-recorder")["state"].clone()
}

fn tenant(weir: &Weir, name: &str) -> Value {
    let tenants = weir.get("/v1/tenants").body;
    tenants["tenants"]
        .as_array()
        .and_then(|all| all.iter().find(|t| t["tenant"] == name).cloned())
        .unwrap_or_else(|| panic!("no tenant {name} in {tenants}"))
}

#[test]
fn a_paused_tenant_is_held_across_a_restart_and_resumes_in_order() {
    let workspace = crate::support::Workspace::new(&["test-recorder"], recorder::ROUTE);
    let weir = workspace.start();
    let paused = weir.post_json("/v1/tenants/acme/pause", "");
    assert_eq!(paused.body, json!({"tenant": "acme", "paused": true}));

    // acme: five events on one ordering key and three without; beta: three.
    let mut events: Vec<Value> = (0..5)
        .map(|n| recorder::tenant_event(n, "acme", Some("k")))
        .collect();
    events.extend((5..8).map(|n| recorder::tenant_event(n, "acme", None)));
    events.extend((10..13).map(|n| recorder::tenant_event(n, "beta", None)));
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    for n in 10..13 {
        settled_event(&weir, &format!("rec-{n}"));
    }
    for id in ["rec-0", "rec-5", "rec-6", "rec-7"] {
        weir.wait_for(&format!("{id} to be held"), |weir| {
            (state_of(weir, id) == "held").then_some(())
        });
    }
    assert_eq!(
        state_of(&weir, "rec-1"),
        "waiting",
        "behind its held key head"
    );
    assert_eq!(tenant(&weir, "acme")["backlog"], 8);
    assert_eq!(tenant(&weir, "acme")["paused"], true);
    assert!(recorded_in(&weir, "test-recorder", "acme").seen.is_empty());
    assert_eq!(recorded_in(&weir, "test-recorder", "beta").seen.len(), 3);

    // A plugin's pause is kept too.
    weir.post_json("/v1/plugins/test-recorder/pause", "");
    weir.stop();
    let weir = workspace.start();
    assert_eq!(tenant(&weir, "acme")["paused"], true);
    assert_eq!(tenant(&weir, "acme")["backlog"], 8);
    assert_eq!(weir.get("/v1/plugins").body["plugins"][0]["paused"], true);
    assert_eq!(
        weir.metric(r#"weir_plugin_paused{plugin="test-recorder"}"#),
        1.0
    );
    weir.post_json("/v1/plugins/test-recorder/resume", "");
    assert_eq!(state_of(&weir, "rec-5"), "held");

    let resumed = weir.post_json("/v1/tenants/acme/resume", "");
    assert_eq!(
        resumed.body,
        json!({"tenant": "acme", "paused": false, "released": 4})
    );
    wait_until_idle(&weir);
    let acme = recorded_in(&weir, "test-recorder", "acme");
    assert_eq!(acme.order.get("k"), Some(&vec![0, 1, 2, 3, 4]));
    assert_eq!(acme.seen.keys().copied().collect::<Vec<_>>(), vec![5, 6, 7]);
    assert!(acme.seen.values().all(|&count| count == 1), "{acme:?}");
    let held_once = settled_event(&weir, "rec-0");
    assert_eq!(
        delivery(&held_once, "test-recorder")["attempts"],
        1,
        "holding does not count an attempt"
    );
    assert_eq!(
        weir.get("/v1/tenants").body["tenants"],
        json!([]),
        "nothing pending, nothing paused, nothing configured: nothing listed"
    );
    weir.stop();
}

/// weir stops after it stored a tenant's resume and before it released the
/// tenant's held deliveries: the next start releases them, and each runs once.
#[test]
fn deliveries_a_resume_left_held_run_after_a_restart() {
    let workspace = crate::support::Workspace::new(&["test-recorder"], recorder::ROUTE);
    let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", "tenant-resume:abort:1")]);
    weir.post_json("/v1/tenants/acme/pause", "");
    let events: Vec<Value> = (0..3)
        .map(|n| recorder::tenant_event(n, "acme", None))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    for n in 0..3 {
        weir.wait_for("the delivery to be held", |weir| {
            (state_of(weir, &format!("rec-{n}")) == "held").then_some(())
        });
    }
    // The resume is stored, then weir dies before it answers.
    let resumed = weir.try_post("/v1/tenants/acme/resume", "application/json", "");
    assert!(resumed.is_none(), "{:?}", resumed.map(|answer| answer.text));
    let exit = weir.wait_exit(std::time::Duration::from_secs(30));
    assert_eq!(exit, None, "weir should have aborted (killed by a signal)");

    let weir = workspace.start();
    for n in 0..3 {
        let done = settled_event(&weir, &format!("rec-{n}"));
        assert_eq!(delivery(&done, "test-recorder")["state"], "done", "{done}");
    }
    let seen = recorded_in(&weir, "test-recorder", "acme").seen;
    assert_eq!(
        seen.values().copied().collect::<Vec<u64>>(),
        [1, 1, 1],
        "{seen:?}"
    );
    let tenants = weir.get("/v1/tenants").body;
    let listed = tenants["tenants"].as_array().expect("tenants");
    assert!(
        listed.iter().all(|tenant| tenant["paused"] == false),
        "the resume stands: {tenants}"
    );
    weir.stop();
}

#[test]
fn pausing_an_invalid_tenant_name_is_refused() {
    let workspace = crate::support::Workspace::new(&["test-recorder"], recorder::ROUTE);
    let weir = workspace.start();
    let answer = weir.post_json("/v1/tenants/bad!name/pause", "");
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "bad_request");
    assert!(
        answer.text.contains("\\\"bad!name\\\" is invalid"),
        "{}",
        answer.text
    );
    let tenants = weir.get("/v1/tenants").body;
    assert_eq!(tenants["tenants"], json!([]), "nothing was paused");
    weir.stop();
}
