//! A plugin whose downstream slows down gets less concurrency, and the other
//! plugins keep their pace; nothing is lost.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::slow::{self, depth as slow_depth, post as post_slow};
use crate::support::{Workspace, delivery, settled_event};

#[test]
fn a_slowing_plugin_gets_less_concurrency_and_others_keep_their_pace() {
    let config = format!("{}{}", slow::CONFIG, recorder::ROUTE);
    let workspace = Workspace::new(&["test-slow", "test-recorder"], &config);
    let weir = workspace.start();

    // Its usual pace: a millisecond a call.
    post_slow(&weir, 0, 8, 1);
    weir.wait_for("the fast calls", |weir| {
        (slow_depth(weir) == 0.0).then_some(())
    });
    let limit = r#"weir_concurrency_limit{plugin="test-slow"}"#;
    assert_eq!(weir.metric(limit), 4.0, "at full concurrency while fast");

    // The downstream slows to 300 ms a call.
    post_slow(&weir, 8, 20, 300);
    weir.wait_for("the limit to drop", |weir| {
        (weir.metric(limit) < 4.0).then_some(())
    });

    // Another plugin's work goes through while the slow one is still behind.
    let events: Vec<Value> = (0..50).map(|n| recorder::event(n, None, false)).collect();
    assert_eq!(
        weir.post_json("/v1/events", &json!(events).to_string())
            .status,
        202
    );
    wait_until_idle(&weir);
    assert!(
        slow_depth(&weir) > 0.0,
        "the recorder did not wait for the slow plugin"
    );
    assert_eq!(recorded(&weir).seen.len(), 50);

    weir.wait_for("the slow plugin to catch up", |weir| {
        (slow_depth(weir) == 0.0).then_some(())
    });
    assert_eq!(
        weir.metric(r#"weir_deliveries_processed_total{plugin="test-slow"}"#),
        28.0
    );
    weir.stop();
}

/// A handler holds its instance slot only while it runs: a delivery whose
/// state read changed under it takes a slot again to rerun, and if its
/// plugin was paused meanwhile it goes back to the queue instead. Pausing
/// while many deliveries fight over one key loses no write, and after the
/// resume every one of them has run.
#[test]
fn a_pause_among_conflicting_deliveries_loses_no_write() {
    const EVENTS: u64 = 60;
    let config = format!(
        "[plugins.test-recorder]\ninstances = 4\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let events = recorder::increments(EVENTS);
    let posted = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(posted.status, 202, "{}", posted.text);
    let paused = weir.post_json("/v1/plugins/test-recorder/pause", "");
    assert_eq!(paused.status, 200, "{}", paused.text);
    let busy = r#"weir_instances_busy{plugin="test-recorder"}"#;
    weir.wait_for("the running handlers to end", |weir| {
        (weir.metric(busy) == 0.0).then_some(())
    });
    let resumed = weir.post_json("/v1/plugins/test-recorder/resume", "");
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    let processed = r#"weir_deliveries_processed_total{plugin="test-recorder"}"#;
    weir.wait_for("every delivery", |weir| {
        (weir.metric(processed) >= EVENTS as f64).then_some(())
    });
    wait_until_idle(&weir);
    assert_eq!(
        weir.metric(processed),
        EVENTS as f64,
        "each ran to its end once"
    );
    assert_eq!(
        recorded(&weir).seen.get(&7),
        Some(&EVENTS),
        "every increment counted once"
    );
    weir.stop();
}

#[test]
fn a_delivery_leased_ahead_that_finds_no_free_slot_goes_back_uncounted_and_runs_once() {
    // One slot. A quick event first, so the plugin counts as quick and
    // leases ahead; then handlers that hold the slot for longer than a
    // delivery leased ahead waits for it: that delivery goes back to the
    // store and is leased again.
    let config = slow::CONFIG.replace("instances = 4", "instances = 1");
    let workspace = Workspace::new(&["test-slow"], &config);
    let weir = workspace.start_with_env(&[(
        "WEIR_LOG",
        "info,weir_core::deliver=debug,fjall=warn,lsm_tree=warn",
    )]);
    post_slow(&weir, 0, 1, 0);
    settled_event(&weir, "slow-0");
    post_slow(&weir, 1, 3, 1_500);
    for n in 0..4 {
        let event = settled_event(&weir, &format!("slow-{n}"));
        let slow = delivery(&event, "test-slow");
        assert_eq!(slow["state"], "done", "{event:#}");
        assert_eq!(
            slow["attempts"], 1,
            "a wait for a slot is no attempt: {event:#}"
        );
        assert_eq!(
            slow["history"].as_array().map(Vec::len),
            Some(1),
            "{event:#}"
        );
    }
    assert_eq!(
        weir.metric(r#"weir_deliveries_processed_total{plugin="test-slow"}"#),
        4.0
    );
    assert!(
        weir.log_text().contains("no slot freed in time"),
        "no delivery went back to the store"
    );
    weir.stop();
}
