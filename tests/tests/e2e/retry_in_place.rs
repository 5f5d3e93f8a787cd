//! A retry due soon waits in place: still leased to the node, its next
//! attempt counted and stored, in memory until it runs again. Stopping weir
//! or pausing the plugin meanwhile hands it back to the store, that attempt
//! uncounted, and it runs once more later.

use serde_json::Value;

use crate::recorder::{self, ROUTE};
use crate::support::{Weir, Workspace, delivery, now_ms, settled_event};

const IN_PLACE: &str = r#"weir_retries_in_place_total{plugin="test-recorder"}"#;

/// Posts an event whose first attempt asks for a retry in a second, and
/// waits until it waits in place; its delivery then.
fn waiting_in_place(weir: &Weir) -> Value {
    let event = recorder::event(1, None, true);
    assert_eq!(weir.post_json("/v1/events", &event.to_string()).status, 202);
    weir.wait_for("the retry to wait in place", |weir| {
        let event = weir
            .get(&format!("/v1/events/{}", event["id"].as_str()?))
            .body;
        let waiting = delivery(&event, "test-recorder").clone();
        (waiting["state"] == "leased" && waiting["attempts"] == 2).then_some(waiting)
    })
}

/// The delivery settled once more after the hand-back: done on its second
/// attempt, which ran after `since_ms`.
fn assert_done_on_the_second_attempt(weir: &Weir, since_ms: u64) {
    let event = settled_event(weir, "rec-1");
    let done = delivery(&event, "test-recorder");
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(
        done["attempts"], 2,
        "the handed-back attempt is not counted: {done}"
    );
    let history = done["history"].as_array().expect("history");
    let outcomes: Vec<&Value> = history.iter().map(|attempt| &attempt["outcome"]).collect();
    assert_eq!(outcomes, ["retry_later", "ack"], "{done}");
    let started = history[1]["started_at_ms"].as_u64().expect("start");
    assert!(started >= since_ms, "ran at {started}, before {since_ms}");
    let seen = recorder::recorded(weir).seen;
    assert_eq!(seen.get(&1), Some(&1), "handled once: {seen:?}");
}

#[test]
fn a_retry_waiting_in_place_is_stored_leased_and_a_stop_hands_it_back_uncounted() {
    let workspace = Workspace::new(&["test-recorder"], ROUTE);
    let weir = workspace.start();
    let waiting = waiting_in_place(&weir);
    let next = waiting["next_attempt_at_ms"]
        .as_u64()
        .expect("next attempt");
    assert!(
        next > waiting["history"][0]["started_at_ms"]
            .as_u64()
            .expect("start")
    );
    assert_eq!(weir.metric(IN_PLACE), 1.0);
    weir.stop();

    let restarted_at = now_ms();
    let weir = workspace.start();
    assert_done_on_the_second_attempt(&weir, restarted_at);
    weir.stop();
}

#[test]
fn a_retry_waiting_in_place_when_its_plugin_is_paused_runs_after_the_resume() {
    let workspace = Workspace::new(&["test-recorder"], ROUTE);
    let weir = workspace.start();
    waiting_in_place(&weir);
    let paused = weir.post_json("/v1/plugins/test-recorder/pause", "");
    assert_eq!(paused.status, 200, "{}", paused.text);

    // Back in the store once its wait is over, that attempt uncounted.
    weir.wait_for("the retry to be handed back", |weir| {
        let event = weir.get("/v1/events/rec-1").body;
        let handed_back = delivery(&event, "test-recorder");
        (handed_back["state"] != "leased" && handed_back["attempts"] == 1).then_some(())
    });
    let resumed_at = now_ms();
    let resumed = weir.post_json("/v1/plugins/test-recorder/resume", "");
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    assert_done_on_the_second_attempt(&weir, resumed_at);
    weir.stop();
}
