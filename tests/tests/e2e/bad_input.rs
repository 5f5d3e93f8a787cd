//! Bad input gets the right 4xx with a JSON error naming the problem, and
//! nothing is stored.

use crate::support::Workspace;
use crate::{EXAMPLE_ROUTES, booking_com};

#[test]
fn bad_requests_are_refused_and_store_nothing() {
    let config =
        format!("[ingest]\nmax_body_bytes = 2048\nmax_events_per_request = 5\n{EXAMPLE_ROUTES}");
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], &config);
    let weir = workspace.start();

    let valid = booking_com("never-1", 1, "L1").to_string();
    let big = format!(
        r#"{{"id":"never-2","source":"s","type":"t","data":"{}"}}"#,
        "x".repeat(4096)
    );
    let six = format!(
        "[{}]",
        vec![booking_com("never-3", 3, "L1").to_string(); 6].join(",")
    );
    let deep = format!(
        r#"{{"id":"never-9","source":"s","type":"t","data":{}{}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let cases: [(&str, &str, String, u16, &str, &str); 10] = [
        (
            "too deep",
            "application/json",
            deep,
            400,
            "invalid_json",
            "nested deeper than 128 levels",
        ),
        (
            "json",
            "application/json",
            r#"{"id":"never-4","#.into(),
            400,
            "invalid_json",
            "not valid JSON",
        ),
        (
            "no type",
            "application/json",
            r#"{"id":"never-5","source":"s"}"#.into(),
            400,
            "invalid_event",
            "\"type\"",
        ),
        (
            "no source",
            "application/json",
            r#"{"id":"never-6","type":"t"}"#.into(),
            400,
            "invalid_event",
            "\"source\"",
        ),
        (
            "one bad event in a batch",
            "application/json",
            format!(r#"[{valid},{{"id":"never-7","type":"t"}}]"#),
            400,
            "invalid_event",
            "event 1: missing required attribute \"source\"",
        ),
        (
            "content type",
            "text/plain",
            valid.clone(),
            415,
            "unsupported_media_type",
            "text/plain",
        ),
        (
            "no content type",
            "",
            valid.clone(),
            415,
            "unsupported_media_type",
            "got none",
        ),
        (
            "too big",
            "application/json",
            big,
            413,
            "payload_too_large",
            "2048 bytes",
        ),
        (
            "too many",
            "application/json",
            six,
            413,
            "too_many_events",
            "at most 5",
        ),
        (
            "not an event",
            "application/json",
            "\"hello\"".into(),
            400,
            "invalid_event",
            "event object",
        ),
    ];
    for (what, content_type, body, status, code, message) in cases {
        let answer = weir.post("/v1/events", content_type, &body);
        assert_eq!(answer.status, status, "{what}: {}", answer.text);
        assert_eq!(
            answer.body["error"]["code"], code,
            "{what}: {}",
            answer.text
        );
        let text = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{what}: {text:?} should mention {message:?}"
        );
    }

    for n in (1..=7).chain([9]) {
        let answer = weir.get(&format!("/v1/events/never-{n}"));
        assert_eq!(
            answer.status, 404,
            "never-{n} must not be stored: {}",
            answer.text
        );
        assert_eq!(answer.body["error"]["code"], "not_found");
    }
    assert_eq!(weir.metric("weir_events_ingested_total"), 0.0);
    assert_eq!(
        weir.metric(r#"weir_ingest_rejected_total{reason="invalid_event"}"#),
        4.0
    );
    assert_eq!(
        weir.metric(r#"weir_queue_depth{plugin="booking-normalizer"}"#),
        0.0
    );

    assert_eq!(weir.get("/v1/nowhere").body["error"]["code"], "not_found");
    let wrong_method = weir.get("/v1/events");
    assert_eq!(
        (
            wrong_method.status,
            wrong_method.body["error"]["code"].clone()
        ),
        (405, "method_not_allowed".into())
    );
    let bad_limit = weir.get("/v1/plugins/price-calculator/state?limit=0");
    assert_eq!(bad_limit.status, 400);
    assert_eq!(weir.get("/v1/plugins/nope/state").status, 404);

    let accepted = weir.post_json("/v1/events", &valid);
    assert_eq!(
        accepted.status, 202,
        "a valid event after all that is accepted: {}",
        accepted.text
    );
    weir.stop();
}

#[test]
fn every_answer_carries_a_request_id_and_keeps_the_callers() {
    let workspace = Workspace::new(&["test-recorder"], "");
    let weir = workspace.start();

    let ok = weir.get("/healthz");
    let generated = ok.request_id.expect("an id on a success");
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let refused = weir.post_json("/v1/events", "{");
    assert_eq!(refused.status, 400);
    let other = refused.request_id.expect("an id on an error");
    assert_ne!(other, generated, "one per request");

    let mine = weir.post_with(
        "/v1/events",
        &[
            ("content-type", "application/json"),
            ("x-request-id", "trace-42"),
        ],
        "{",
    );
    assert_eq!(
        mine.request_id.as_deref(),
        Some("trace-42"),
        "the caller's own id"
    );
    // Pausing a plugin logs a warning: it carries the request's id.
    let paused = weir.post_with(
        "/v1/plugins/test-recorder/pause",
        &[
            ("x-request-id", "trace-43"),
            ("content-type", "application/json"),
        ],
        "",
    );
    assert_eq!(paused.status, 200, "{}", paused.text);
    weir.wait_for_log("the pause's log line to carry the request's id", |log| {
        log.lines()
            .any(|line| line.contains("trace-43") && line.contains("paused"))
    });
    weir.stop();
}

#[test]
fn a_bad_or_unknown_query_parameter_gets_a_json_error_naming_it() {
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    let weir = workspace.start();
    for (path, named) in [
        ("/v1/plugins/test-ack/state?limit=many", "limit"),
        ("/v1/events/some-id?tenat=acme", "tenat"),
        ("/v1/dead-letters?limit=-1", "limit"),
    ] {
        let answer = weir.get(path);
        assert_eq!(answer.status, 400, "{path}: {}", answer.text);
        assert!(
            answer.content_type.starts_with("application/json"),
            "{path}: {}",
            answer.content_type
        );
        assert_eq!(answer.body["error"]["code"], "bad_request", "{path}");
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("bad query string") && message.contains(named),
            "{path}: the message names {named:?}: {message}"
        );
    }
    weir.stop();
}
