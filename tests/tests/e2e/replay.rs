//! Replay from the log re-runs a plugin over past events, in a new idempotency
//! generation, and reports its progress.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::{Weir, Workspace, delivery, settled_event};

fn wait_for_job(weir: &Weir, status_url: &str) -> Value {
    weir.wait_for("the replay job to finish", |weir| {
        let progress = weir.get(status_url).body;
        (progress["status"] != "running").then_some(progress)
    })
}

#[test]
fn a_replay_runs_the_plugin_again_over_past_events() {
    let workspace = Workspace::new(&["test-recorder"], recorder::ROUTE);
    let weir = workspace.start();
    let events: Vec<Value> = (0..10).map(|n| recorder::event(n, None, false)).collect();
    assert_eq!(
        weir.post_json("/v1/events", &json!(events).to_string())
            .status,
        202
    );
    wait_until_idle(&weir);
    assert!(recorded(&weir).seen.values().all(|&count| count == 1));

    // Events 4..=10 of the log (n = 3..=9), at 20 a second.
    let request = json!({"plugin": "test-recorder", "since_sequence": 4, "rate_per_sec": 20});
    let answer = weir.post_json("/v1/replay", &request.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(
        (
            answer.body["from_sequence"].clone(),
            answer.body["to_sequence"].clone()
        ),
        (json!(4), json!(10))
    );
    let status_url = answer.body["status_url"]
        .as_str()
        .expect("status_url")
        .to_owned();
    let progress = wait_for_job(&weir, &status_url);
    assert_eq!(progress["status"], "done", "{progress:#}");
    assert_eq!(progress["queued"], 7, "{progress:#}");
    wait_until_idle(&weir);

    let seen = recorded(&weir).seen;
    let expected: Vec<(u64, u64)> = (0..10).map(|n| (n, if n >= 3 { 2 } else { 1 })).collect();
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), expected);
    let event = settled_event(&weir, "rec-5");
    let delivery = delivery(&event, "test-recorder");
    assert_eq!(delivery["generation"], 1, "{event:#}");
    assert_eq!(
        delivery["history"].as_array().map(Vec::len),
        Some(2),
        "history kept"
    );

    // A replay by time covers everything ingested since then.
    let request =
        json!({"plugin": "test-recorder", "since": "2000-01-01T00:00:00Z", "rate_per_sec": 1000});
    let answer = weir.post_json("/v1/replay", &request.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let status_url = answer.body["status_url"]
        .as_str()
        .expect("status_url")
        .to_owned();
    assert_eq!(wait_for_job(&weir, &status_url)["queued"], 10);

    // Any RFC 3339 offset is understood, and a time before 1970 covers
    // everything, as the epoch does; the jobs before left every delivery done.
    for since in ["2000-01-01T01:00:00+01:00", "1969-07-20T20:17:40Z"] {
        let request = json!({"plugin": "test-recorder", "since": since, "rate_per_sec": 1000});
        let answer = weir.post_json("/v1/replay", &request.to_string());
        assert_eq!(answer.status, 202, "{since}: {}", answer.text);
        let status_url = answer.body["status_url"].as_str().expect("status_url");
        assert_eq!(wait_for_job(&weir, status_url)["queued"], 10, "{since}");
    }
    weir.stop();
}

#[test]
fn replay_requests_with_bad_input_are_refused() {
    let workspace = Workspace::new(&["test-recorder"], recorder::ROUTE);
    let weir = workspace.start();
    let cases = [
        (
            json!({"plugin": "nobody", "since_sequence": 1}),
            404,
            "no plugin named \"nobody\"",
        ),
        (
            json!({"plugin": "test-recorder"}),
            400,
            "since (RFC 3339) or since_sequence",
        ),
        (
            json!({"plugin": "test-recorder", "since": "yesterday"}),
            400,
            "not an RFC 3339 time",
        ),
        (
            json!({"plugin": "test-recorder", "since_sequence": 1, "rate_per_sec": 0}),
            400,
            "rate_per_sec must be 1 to",
        ),
        (
            json!({"plugin": "test-recorder", "since_sequence": 1, "speed": 3}),
            400,
            "unknown field `speed`",
        ),
    ];
    for (body, status, message) in cases {
        let answer = weir.post_json("/v1/replay", &body.to_string());
        assert_eq!(answer.status, status, "{body}: {}", answer.text);
        let text = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{body}: {}", answer.text);
    }
    assert_eq!(weir.get("/v1/replays/nope").status, 404);
    weir.stop();
}
