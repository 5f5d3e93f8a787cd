//! Metric values checked against known work: events in, deliveries and their
//! end-to-end latency counted, queue depth per tenant (capped) back to 0,
//! HTTP requests counted by route template and status, and the dashboard's
//! samples agreeing with the counters; every series whose labels are known
//! in advance is there at 0 before its first use.

use serde_json::json;

use crate::support::{ACK_EVERYTHING, Weir, Workspace, run_to_exit};

fn post(weir: &Weir, tenant: &str, ids: &[&str]) {
    let events: Vec<_> = ids
        .iter()
        .map(|id| json!({"id": id, "source": "shop", "type": "order.placed", "tenant": tenant}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
}

#[test]
fn counts_latency_tenant_depth_and_http_requests_match_the_work_done() {
    // One tenant series: the first tenant seen gets it, the others share _other.
    let config = format!("[metrics]\ntenant_series = 1\n{ACK_EVERYTHING}");
    let workspace = Workspace::new(&["test-ack"], &config);
    let weir = workspace.start();
    let paused = weir.post_json("/v1/plugins/test-ack/pause", "");
    assert_eq!(paused.status, 200, "{}", paused.text);
    post(&weir, "acme", &["a1", "a2"]);
    post(&weir, "beta", &["b1", "b2"]);
    post(&weir, "gamma", &["g1"]);

    // Paused: every delivery waits, counted per tenant within the cap.
    let depth =
        |tenant: &str| weir.metric(&format!(r#"weir_tenant_queue_depth{{tenant="{tenant}"}}"#));
    assert_eq!(weir.metric(r#"weir_queue_depth{plugin="test-ack"}"#), 5.0);
    assert_eq!(depth("acme"), 2.0);
    assert_eq!(depth("_other"), 3.0);
    let text = weir.get("/metrics").text;
    assert!(
        !text.contains(r#"tenant="beta""#),
        "beta is past the cap:\n{text}"
    );

    let resumed = weir.post_json("/v1/plugins/test-ack/resume", "");
    assert_eq!(resumed.status, 200, "{}", resumed.text);
    weir.wait_for("the queue to drain", |weir| {
        (weir.metric(r#"weir_queue_depth{plugin="test-ack"}"#) == 0.0
            && weir.metric(r#"weir_deliveries_processed_total{plugin="test-ack"}"#) == 5.0)
            .then_some(())
    });
    assert_eq!(depth("acme"), 0.0);
    assert_eq!(depth("_other"), 0.0);
    assert_eq!(weir.metric("weir_events_ingested_total"), 5.0);
    assert_eq!(
        weir.metric(r#"weir_event_latency_seconds_count{plugin="test-ack"}"#),
        5.0
    );
    // Paused first, so each waited at least as long as the two requests between.
    assert!(weir.metric(r#"weir_event_latency_seconds_sum{plugin="test-ack"}"#) > 0.0);

    // Requests are counted by route template, never by the id asked for.
    assert_eq!(weir.get("/v1/events/a1").status, 200);
    assert_eq!(weir.get("/no/such/page").status, 404);
    let http = |route: &str, method: &str, status: u16| {
        weir.metric(&format!(
            r#"weir_http_request_duration_seconds_count{{route="{route}",method="{method}",status="{status}"}}"#
        ))
    };
    assert_eq!(http("/v1/events", "POST", 202), 3.0);
    assert_eq!(http("/v1/events/{id}", "GET", 200), 1.0);
    assert_eq!(http("unmatched", "GET", 404), 1.0);
    let text = weir.get("/metrics").text;
    assert!(
        !text.contains("a1\""),
        "an event id became a label:\n{text}"
    );

    // The dashboard's samples agree with the counters.
    let sample = weir.wait_for("a sample after the work", |weir| {
        let samples = weir.get("/v1/dashboard").body["samples"].clone();
        let last = samples.as_array()?.last()?.clone();
        (last["processed"] == 5).then_some(last)
    });
    assert_eq!(sample["ingested"], 5, "{sample}");
    assert_eq!(sample["failed"], 0, "{sample}");
    assert_eq!(sample["queue_depth"], json!({}), "{sample}");
    weir.stop();
}

#[test]
fn per_tenant_series_are_off_by_default_and_a_bad_setting_is_refused() {
    let workspace = Workspace::new(&["test-ack"], ACK_EVERYTHING);
    let weir = workspace.start();
    post(&weir, "acme", &["a1"]);
    let text = weir.get("/metrics").text;
    assert!(!text.contains("weir_tenant_queue_depth{"), "{text}");
    weir.stop();

    let workspace = Workspace::new(&["test-ack"], "[metrics]\ntenant_series = -1\n");
    let (code, log) = run_to_exit(&workspace.serve_args(), &[], workspace.path());
    assert_ne!(code, Some(0));
    assert!(log.contains("tenant_series"), "{log}");
}

/// Whether `/metrics` has the sample `series` (value included) as a line.
fn has_sample(weir: &Weir, series: &str) -> bool {
    weir.get("/metrics").text.lines().any(|line| line == series)
}

#[test]
fn every_series_with_known_labels_is_exported_at_zero_before_first_use() {
    // Reloads quickly, so the plugin added below is picked up soon.
    let config = format!("[reload]\ndebounce_ms = 50\n{ACK_EVERYTHING}");
    let workspace = Workspace::new(&["test-ack"], &config);
    let weir = workspace.start();
    for series in [
        r#"weir_dead_letters_replayed_total{plugin="test-ack"} 0"#,
        r#"weir_plugin_paused{plugin="test-ack"} 0"#,
        r#"weir_deliveries_processed_total{plugin="test-ack"} 0"#,
        r#"weir_deliveries_dead_total{plugin="test-ack"} 0"#,
        r#"weir_deliveries_failed_total{plugin="test-ack",reason="fail"} 0"#,
        r#"weir_deliveries_failed_total{plugin="test-ack",reason="out_of_fuel"} 0"#,
        r#"weir_breaker_trips_total{plugin="test-ack",reason="trap"} 0"#,
        r#"weir_breaker_trips_total{plugin="test-ack",reason="retry_later"} 0"#,
        r#"weir_queue_depth{plugin="test-ack"} 0"#,
        r#"weir_instances_busy{plugin="test-ack"} 0"#,
        r#"weir_handler_duration_seconds_count{plugin="test-ack"} 0"#,
        r#"weir_event_latency_seconds_count{plugin="test-ack"} 0"#,
        r#"weir_plugin_reloads_total{plugin="test-ack",result="rejected"} 0"#,
        r#"weir_route_reloads_total{result="loaded"} 0"#,
        r#"weir_ingest_rejected_total{reason="invalid_event"} 0"#,
    ] {
        assert!(
            has_sample(&weir, series),
            "no {series} in\n{}",
            weir.get("/metrics").text
        );
    }
    // Not 0: a plugin may run deliveries from the start.
    assert!(weir.metric(r#"weir_concurrency_limit{plugin="test-ack"}"#) >= 1.0);

    // A plugin added while weir runs gets its series when it is loaded.
    std::fs::copy(
        crate::support::plugin_component("test-always-fail"),
        workspace.path().join("plugins/test-always-fail.wasm"),
    )
    .expect("copy plugin");
    weir.wait_for("the new plugin's series", |weir| {
        has_sample(weir, r#"weir_plugin_paused{plugin="test-always-fail"} 0"#).then_some(())
    });
    assert!(has_sample(
        &weir,
        r#"weir_dead_letters_replayed_total{plugin="test-always-fail"} 0"#
    ));
    weir.stop();
}
