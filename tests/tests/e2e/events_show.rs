//! `weir events show`: an event and its deliveries as tables with readable
//! UTC times, the way `weir status` prints, and weir's JSON with `--json`.

use serde_json::Value;

use crate::cli::{row, weir_cli};
use crate::support::{Workspace, delivery, settled_event};

const ROUTES: &str = r#"
[[route]]
name = "both"
match = { type = "thing" }
plugins = ["test-ack", "test-always-fail"]
"#;

#[test]
fn events_show_prints_tables_with_readable_times_and_json_for_scripts() {
    let workspace = Workspace::new(&["test-ack", "test-always-fail"], ROUTES);
    let weir = workspace.start();
    let sent = weir.post_json(
        "/v1/events",
        r#"{"specversion":"1.0","id":"e-1","source":"cli","type":"thing","datacontenttype":"application/json","data":{"n":7}}"#,
    );
    assert_eq!(sent.status, 202, "{}", sent.text);
    let stored = settled_event(&weir, "e-1");

    let shown = weir_cli(&weir, &["events", "show", "e-1"]);
    assert!(shown.success, "{}", shown.stderr);
    let text = &shown.stdout;
    assert_eq!(row(text, "type")[1], "thing", "{text}");
    assert_eq!(row(text, "data")[1], r#"{"n":7}"#, "{text}");
    let ingested = stored["ingested_at"].as_str().expect("ingested_at");
    assert_eq!(row(text, "ingested")[1], ingested, "{text}");
    // PLUGIN STATE ATTEMPTS NEXT-ATTEMPT RESULT
    let done = row(text, "test-ack");
    assert_eq!(done[1..5], ["done", "1", "-", "ack;"], "{text}");
    let dead = row(text, "test-always-fail");
    assert_eq!(dead[1], "dead", "{text}");
    let reason = delivery(&stored, "test-always-fail")["error"]
        .as_str()
        .expect("why it died");
    assert!(text.contains(reason), "{text}");
    // Every time reads as RFC 3339 in the event's year; no epoch milliseconds.
    let year = &ingested[..5];
    let started = text
        .lines()
        .find(|line| line.starts_with("test-ack") && line.contains(" ack "))
        .expect("an attempt row");
    assert!(
        started
            .split_whitespace()
            .nth(2)
            .is_some_and(|t| t.starts_with(year)),
        "{text}"
    );
    assert!(text.contains(&format!("committed {year}")), "{text}");
    assert!(
        !text
            .split_whitespace()
            .any(|word| word.len() >= 13 && word.bytes().all(|b| b.is_ascii_digit())),
        "epoch milliseconds in\n{text}"
    );

    let json = weir_cli(&weir, &["events", "show", "e-1", "--json"]);
    assert!(json.success, "{}", json.stderr);
    let answer: Value = serde_json::from_str(&json.stdout).expect("--json prints JSON");
    assert_eq!(answer, stored);

    let missing = weir_cli(&weir, &["events", "show", "nope"]);
    assert!(!missing.success);
    assert!(
        missing.stderr.contains("no event with id \"nope\""),
        "{}",
        missing.stderr
    );
    weir.stop();
}
