//! Emitted events are routed like ingested ones, and the hop limit stops a chain
//! that would never end; invalid emitted events are refused.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Workspace, delivery, settled_event};

const CONFIG: &str = r#"
[dispatch]
max_hops = 3

[[route]]
name = "loop"
match = { type = "loop.*" }
plugins = ["test-emit-loop"]
"#;

/// The event that starts the loop.
const LOOP_0: &str = r#"{"id":"loop-0","source":"t","type":"loop.start","data":1}"#;

#[test]
fn the_hop_limit_dead_letters_an_emit_loop() {
    let workspace = Workspace::new(&["test-emit-loop"], CONFIG);
    let weir = workspace.start();
    let answer = weir.post_json("/v1/events", LOOP_0);
    assert_eq!(answer.status, 202);

    // loop-0 (hop 0) emits hop 1, which emits hop 2, which emits hop 3; hop 3 may not emit.
    let mut id = "loop-0".to_owned();
    for hop in 0..3 {
        let event = settled_event(&weir, &id);
        assert_eq!(event["hops"], hop);
        assert_eq!(
            event["correlationid"],
            if hop == 0 {
                json!(null)
            } else {
                json!("loop-0")
            }
        );
        let emitted = &delivery(&event, "test-emit-loop")["result"]["emitted"];
        id = emitted[0].as_str().expect("emitted one event").to_owned();
    }
    let last = settled_event(&weir, &id);
    assert_eq!(last["hops"], 3);
    let dead = delivery(&last, "test-emit-loop");
    assert_eq!(dead["state"], "dead");
    let error = dead["error"].as_str().expect("error");
    assert!(error.contains("hop limit 3 exceeded"), "{error}");
    assert_eq!(
        weir.metric(
            r#"weir_deliveries_failed_total{plugin="test-emit-loop",reason="invalid_output"}"#
        ),
        1.0
    );
    weir.stop();
}

#[test]
fn an_emitted_event_with_a_bad_extension_is_dead_lettered() {
    let workspace = Workspace::new(&["test-emit-loop"], CONFIG);
    let weir = workspace.start();
    let body = r#"{"id":"bad-1","source":"t","type":"loop.bad","data":"bad-extension"}"#;
    assert_eq!(weir.post_json("/v1/events", body).status, 202);
    let event = settled_event(&weir, "bad-1");
    let dead = delivery(&event, "test-emit-loop");
    assert_eq!(dead["state"], "dead");
    assert!(
        dead["error"]
            .as_str()
            .unwrap_or_default()
            .contains("Not_Valid"),
        "{dead:#}"
    );
    assert_eq!(dead["result"], json!(null), "nothing was committed");
    weir.stop();
}

/// The ids `test-emit-loop` emitted while handling `loop-0` on `weir`.
fn emitted_by_loop_0(weir: &crate::support::Weir) -> Value {
    let event = settled_event(weir, "loop-0");
    delivery(&event, "test-emit-loop")["result"]["emitted"].clone()
}

/// An emitted event's id is derived from where it came from, not drawn: an
/// attempt whose commit was lost to a crash runs again after the restart
/// and emits the ids the lost attempt did, which are those a node that
/// never crashed emits for the same event.
#[test]
fn an_attempt_run_again_after_a_crash_emits_the_same_ids() {
    let workspace = Workspace::new(&["test-emit-loop"], CONFIG);
    let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", "before-commit:abort:1")]);
    // The abort may beat the answer; the event was stored before it ran.
    if let Some(answer) = weir.try_post("/v1/events", "application/json", LOOP_0) {
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    assert_eq!(
        weir.wait_exit(Duration::from_secs(60)),
        None,
        "weir should have aborted before the commit"
    );
    let weir = workspace.start();
    let after_the_crash = emitted_by_loop_0(&weir);
    weir.stop();

    let elsewhere = Workspace::new(&["test-emit-loop"], CONFIG);
    let weir = elsewhere.start();
    assert_eq!(weir.post_json("/v1/events", LOOP_0).status, 202);
    let without_a_crash = emitted_by_loop_0(&weir);
    weir.stop();
    assert!(after_the_crash[0].is_string(), "{after_the_crash}");
    assert_eq!(after_the_crash, without_a_crash);
}
