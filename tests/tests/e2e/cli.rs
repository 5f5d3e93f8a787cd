//! The admin commands against a live weir: `weir send` posts a file of JSON
//! lines in batches, and `weir status`, `weir plugins`, `weir events show`
//! and `weir dlq list|replay` read and act on what came of it. Failures name
//! the problem and exit non-zero.

use std::process::Command;

use crate::auth::start_with_tokens;
use crate::support::{Weir, Workspace, settled_event};

const ROUTES: &str = r#"
[[route]]
name = "ok"
match = { type = "ok.*" }
plugins = ["test-ack"]

[[route]]
name = "doomed"
match = { type = "doomed" }
plugins = ["test-always-fail"]
"#;

/// What a command printed, and whether it succeeded.
pub struct Run {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `weir ARGS` against `weir` (as `WEIR_URL`), with no token unless the
/// arguments carry one.
pub fn weir_cli(weir: &Weir, args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
        .args(args)
        .env("WEIR_URL", weir.url(""))
        .env_remove("WEIR_TOKEN")
        .output()
        .expect("run weir");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The whitespace-separated cells of the table row that starts with `first`.
pub fn row<'a>(table: &'a str, first: &str) -> Vec<&'a str> {
    table
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|cells| cells.first() == Some(&first))
        .unwrap_or_else(|| panic!("no row {first} in\n{table}"))
}

#[test]
fn admin_commands_send_show_and_replay_against_a_live_weir() {
    let workspace = Workspace::new(&["test-ack", "test-always-fail"], ROUTES);
    let weir = workspace.start();
    let mut lines: Vec<String> = (0..240)
        .map(|n| format!(r#"{{"id":"ok-{n}","source":"cli","type":"ok.thing"}}"#))
        .collect();
    lines.extend(
        (0..10).map(|n| format!(r#"{{"id":"doomed-{n}","source":"cli","type":"doomed"}}"#)),
    );
    let file = workspace.path().join("events.jsonl");
    std::fs::write(&file, lines.join("\n")).expect("write events");
    let file = file.to_str().expect("UTF-8 path");

    let sent = weir_cli(&weir, &["send", file, "--batch", "100"]);
    assert!(sent.success, "{}", sent.stderr);
    assert!(
        sent.stdout
            .contains("sent 250 events in 3 requests: 250 stored, 0 already there"),
        "{}",
        sent.stdout
    );
    let again = weir_cli(&weir, &["send", file]);
    assert!(
        again.stdout.contains("0 stored, 250 already there"),
        "{}",
        again.stdout
    );
    let single = workspace.path().join("one.json");
    std::fs::write(
        &single,
        r#"{"id":"ok-one","source":"cli","type":"ok.thing"}"#,
    )
    .expect("write event");
    let one = weir_cli(&weir, &["send", single.to_str().expect("UTF-8 path")]);
    assert!(
        one.stdout.contains("sent 1 event in 1 request: 1 stored"),
        "{}",
        one.stdout
    );
    settled_event(&weir, "ok-239");
    settled_event(&weir, "ok-one");
    for n in 0..10 {
        settled_event(&weir, &format!("doomed-{n}"));
    }

    let status = weir_cli(&weir, &["status"]);
    assert!(status.success, "{}", status.stderr);
    assert!(status.stdout.contains(": ready"), "{}", status.stdout);
    // PLUGIN STATE PROCESSED FAILED RETRIED DEAD BREAKER
    assert_eq!(
        row(&status.stdout, "test-ack")[..3],
        ["test-ack", "serving", "241"]
    );
    assert_eq!(row(&status.stdout, "test-always-fail")[5], "10");
    assert!(
        status.stdout.contains("0 deliveries waiting"),
        "{}",
        status.stdout
    );

    let plugins = weir_cli(&weir, &["plugins"]);
    assert_eq!(
        row(&plugins.stdout, "test-ack")[1],
        "serving",
        "{}",
        plugins.stdout
    );

    let shown = weir_cli(&weir, &["events", "show", "ok-7", "--json"]);
    assert!(shown.success, "{}", shown.stderr);
    let event: serde_json::Value = serde_json::from_str(&shown.stdout).expect("JSON");
    assert_eq!(event["id"], "ok-7");
    assert_eq!(event["deliveries"][0]["state"], "done");

    let listed = weir_cli(&weir, &["dlq", "list", "--plugin", "test-always-fail"]);
    assert_eq!(listed.stdout.lines().count(), 11, "{}", listed.stdout);
    assert_eq!(row(&listed.stdout, "doomed-3")[1], "test-always-fail");

    let one = weir_cli(&weir, &["dlq", "replay", "doomed-0"]);
    assert!(one.success, "{}", one.stderr);
    assert!(
        one.stdout
            .contains("replayed event doomed-0 for test-always-fail"),
        "{}",
        one.stdout
    );
    // doomed-0 may already be dead again, so 9 or 10.
    let all = weir_cli(
        &weir,
        &["dlq", "replay", "--all", "--plugin", "test-always-fail"],
    );
    assert!(all.success, "{}", all.stderr);
    assert!(
        ["replayed 9 dead", "replayed 10 dead"]
            .iter()
            .any(|said| all.stdout.contains(said)),
        "{}",
        all.stdout
    );
    weir.stop();
}

#[test]
fn admin_commands_name_what_went_wrong() {
    let workspace = Workspace::new(&["test-ack", "test-always-fail"], ROUTES);
    let weir = workspace.start();

    let missing = weir_cli(&weir, &["events", "show", "nope"]);
    assert!(!missing.success);
    assert!(
        missing
            .stderr
            .contains("not_found: no event with id \"nope\""),
        "{}",
        missing.stderr
    );
    let unread = weir_cli(&weir, &["send", "no-such-file.json"]);
    assert!(!unread.success);
    assert!(
        unread.stderr.contains("cannot read no-such-file.json"),
        "{}",
        unread.stderr
    );

    // A broken line: nothing is sent.
    let broken = workspace.path().join("broken.jsonl");
    std::fs::write(&broken, "{\"source\":\"cli\",\"type\":\"ok.a\"}\n{oops\n").expect("write");
    let refused = weir_cli(&weir, &["send", broken.to_str().expect("UTF-8")]);
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("line 2 is not a JSON event"),
        "{}",
        refused.stderr
    );
    assert_eq!(weir.metric("weir_events_ingested_total"), 0.0);

    // weir refuses the second batch: the first stays stored, and the error
    // names the refused event by its line in the file (blank lines count),
    // not by its place in the request.
    let mut lines: Vec<String> = (0..3)
        .map(|n| format!(r#"{{"id":"b-{n}","source":"cli","type":"ok.b"}}"#))
        .collect();
    lines.insert(1, String::new());
    lines.push(r#"{"id":"b-3","type":"ok.b"}"#.to_owned());
    let partial = workspace.path().join("partial.jsonl");
    std::fs::write(&partial, lines.join("\n")).expect("write");
    let failed = weir_cli(
        &weir,
        &["send", partial.to_str().expect("UTF-8"), "--batch", "2"],
    );
    assert!(!failed.success);
    assert!(
        failed
            .stderr
            .contains("lines 4 to 5 were not stored (2 events before them were)")
            && failed
                .stderr
                .contains("line 5: missing required attribute \"source\""),
        "{}",
        failed.stderr
    );
    assert_eq!(failed.stderr.lines().count(), 1, "{}", failed.stderr);
    assert_eq!(weir.metric("weir_events_ingested_total"), 2.0);

    // The same in a JSON array: the event is named by its place in it.
    let array = workspace.path().join("array.json");
    std::fs::write(
        &array,
        r#"[{"id":"c-0","source":"cli","type":"ok.c"},{"id":"c-1","type":"ok.c"}]"#,
    )
    .expect("write");
    let failed = weir_cli(&weir, &["send", array.to_str().expect("UTF-8")]);
    assert!(!failed.success);
    assert!(
        failed
            .stderr
            .contains("events 1 to 2 were not stored (0 events before them were)")
            && failed
                .stderr
                .contains("event 2: missing required attribute"),
        "{}",
        failed.stderr
    );

    let nowhere = Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
        .args(["status", "--url", "http://127.0.0.1:1"])
        .env_remove("WEIR_TOKEN")
        .output()
        .expect("run weir");
    let said = String::from_utf8_lossy(&nowhere.stderr);
    assert!(!nowhere.status.success());
    assert!(
        said.contains("cannot reach weir at http://127.0.0.1:1") && said.contains("weir serve"),
        "{said}"
    );
    weir.stop();
}

#[test]
fn admin_commands_take_a_token_when_auth_is_on() {
    let (_workspace, weir, tokens) = start_with_tokens();
    let refused = weir_cli(&weir, &["status"]);
    assert!(!refused.success);
    assert!(
        refused.stderr.contains("unauthorized") && refused.stderr.contains("--token or WEIR_TOKEN"),
        "{}",
        refused.stderr
    );
    let admitted = weir_cli(&weir, &["status", "--token", &tokens.admin]);
    assert!(admitted.success, "{}", admitted.stderr);
    assert!(admitted.stdout.contains(": ready"), "{}", admitted.stdout);
    weir.stop();
}
