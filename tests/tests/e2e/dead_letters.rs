//! Dead letters can be listed (filtered, a page at a time), replayed one by one
//! or by filter, and discarded; the dashboard shows the latest.

use serde_json::{Value, json};

use crate::support::{Weir, Workspace, delivery, settled_event};

const CONFIG: &str = r#"
[[route]]
name = "doomed"
match = { type = "doomed.*" }
plugins = ["test-always-fail"]
"#;

fn post(weir: &Weir, id: &str, tenant: &str, kind: &str) {
    let event = json!({"id": id, "source": "tests", "type": kind, "tenant": tenant});
    let answer = weir.post_json("/v1/events", &event.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
}

fn listed_ids(weir: &Weir, query: &str) -> Vec<String> {
    let answer = weir.get(&format!("/v1/dead-letters{query}"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    answer.body["dead_letters"]
        .as_array()
        .expect("dead_letters")
        .iter()
        .map(|letter| letter["id"].as_str().expect("id").to_owned())
        .collect()
}

#[test]
fn dead_letters_are_listed_replayed_and_discarded() {
    let workspace = Workspace::new(&["test-always-fail"], CONFIG);
    let weir = workspace.start();
    post(&weir, "d1", "acme", "doomed.a");
    post(&weir, "d2", "globex", "doomed.a");
    post(&weir, "d3", "acme", "doomed.b");
    for id in ["d1", "d2", "d3"] {
        settled_event(&weir, id);
    }

    assert_eq!(listed_ids(&weir, ""), ["d1", "d2", "d3"]);
    assert_eq!(listed_ids(&weir, "?tenant=acme"), ["d1", "d3"]);
    assert_eq!(listed_ids(&weir, "?type=doomed.b"), ["d3"]);
    assert_eq!(
        listed_ids(&weir, "?plugin=test-always-fail&tenant=globex"),
        ["d2"]
    );
    assert!(listed_ids(&weir, "?plugin=someone-else").is_empty());

    // One page at a time.
    let first = weir.get("/v1/dead-letters?limit=2");
    let cursor = first.body["next_cursor"]
        .as_str()
        .expect("a cursor after a full page");
    assert_eq!(
        listed_ids(&weir, &format!("?limit=2&cursor={cursor}")),
        ["d3"]
    );
    let letter = &first.body["dead_letters"][0];
    assert_eq!(letter["error"], "rejected by test-always-fail");
    assert_eq!(letter["history"].as_array().map(Vec::len), Some(1));

    // Replaying one event: it runs again (and fails again), history kept.
    let answer = weir.post_json("/v1/dead-letters/d1/replay", "");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["replayed"], json!(["test-always-fail"]));
    let d1 = weir.wait_for("d1 to die again", |weir| {
        let event = weir.get("/v1/events/d1").body;
        let dead_again = delivery(&event, "test-always-fail")["replays"] == 1
            && delivery(&event, "test-always-fail")["state"] == "dead";
        dead_again.then_some(event)
    });
    let history = delivery(&d1, "test-always-fail")["history"]
        .as_array()
        .cloned();
    assert_eq!(history.map(|h| h.len()), Some(2), "{d1:#}");

    // Discarding: gone from the list, kept on the event as discarded.
    let answer = weir.delete("/v1/dead-letters/d2");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body["discarded"], json!(["test-always-fail"]));
    let d2 = weir.get("/v1/events/d2").body;
    assert_eq!(delivery(&d2, "test-always-fail")["state"], "discarded");
    assert_eq!(listed_ids(&weir, ""), ["d1", "d3"]);
    let again = weir.delete("/v1/dead-letters/d2");
    assert_eq!(
        (again.status, again.body["error"]["code"].clone()),
        (404, json!("not_found"))
    );

    // Replaying by filter.
    let answer = weir.post_json("/v1/dead-letters/replay?tenant=acme", "");
    assert_eq!(answer.status, 200, "{}", answer.text);
    assert_eq!(answer.body, json!({"replayed": 2, "more": false}));
    weir.wait_for("the replayed letters to die again", |weir| {
        let replays: Vec<Value> = ["d1", "d3"]
            .iter()
            .map(|id| {
                let event = weir.get(&format!("/v1/events/{id}")).body;
                let delivery = delivery(&event, "test-always-fail");
                json!([delivery["state"], delivery["replays"]])
            })
            .collect();
        (replays == [json!(["dead", 2]), json!(["dead", 1])]).then_some(())
    });
    weir.stop();
}

#[test]
fn dead_letter_requests_with_bad_input_are_refused() {
    let workspace = Workspace::new(&["test-always-fail"], CONFIG);
    let weir = workspace.start();
    post(&weir, "alive", "acme", "not.routed");
    let cases = [
        ("GET", "/v1/dead-letters?cursor=!!", 400, "cursor"),
        (
            "GET",
            "/v1/dead-letters?limit=0",
            400,
            "limit must be 1 to 1000",
        ),
        (
            "POST",
            "/v1/dead-letters/replay?limit=100000",
            400,
            "limit must be 1 to 10000",
        ),
        (
            "POST",
            "/v1/dead-letters/replay?cursor=abc",
            400,
            "unknown field `cursor`",
        ),
        (
            "POST",
            "/v1/dead-letters/nope/replay",
            404,
            "no event with id \"nope\"",
        ),
        (
            "POST",
            "/v1/dead-letters/alive/replay",
            404,
            "has no dead delivery",
        ),
        (
            "DELETE",
            "/v1/dead-letters/alive?plugin=test-always-fail",
            404,
            "no dead delivery to test-always-fail",
        ),
    ];
    for (method, path, status, message) in cases {
        let answer = match method {
            "GET" => weir.get(path),
            "POST" => weir.post_json(path, ""),
            _ => weir.delete(path),
        };
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.text);
        let text = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{method} {path}: {}", answer.text);
    }
    weir.stop();
}

#[test]
fn the_dashboard_shows_the_latest_dead_letters_first() {
    // Two plugins, so that the latest letters are not all of the plugin whose
    // letters come first in the store.
    let config = r#"
[[route]]
name = "a"
match = { type = "doomed.a" }
plugins = ["fail-a"]

[[route]]
name = "b"
match = { type = "doomed.b" }
plugins = ["fail-b"]
"#;
    let workspace = Workspace::with_named_plugins(
        &[
            ("test-always-fail", "fail-a"),
            ("test-always-fail", "fail-b"),
        ],
        config,
    );
    let weir = workspace.start();
    let ids: Vec<String> = (0..30).map(|n| format!("d{n:02}")).collect();
    for (n, id) in ids.iter().enumerate() {
        let kind = if n % 2 == 0 { "doomed.a" } else { "doomed.b" };
        post(&weir, id, "acme", kind);
    }
    for id in &ids {
        settled_event(&weir, id);
    }
    assert_eq!(dashboard_dead_letters(&weir), latest_twenty(&ids));
    weir.stop();
}

/// The ids of the dead letters `GET /v1/dashboard` shows, in its order.
pub fn dashboard_dead_letters(weir: &Weir) -> Vec<String> {
    let data = weir.get("/v1/dashboard");
    assert_eq!(data.status, 200, "{}", data.text);
    data.body["dead_letters"]
        .as_array()
        .expect("dead_letters")
        .iter()
        .map(|letter| letter["id"].as_str().expect("id").to_owned())
        .collect()
}

/// The last 20 of `ids`, newest first: what the dashboard shows.
pub fn latest_twenty(ids: &[String]) -> Vec<String> {
    ids.iter().rev().take(20).cloned().collect()
}
