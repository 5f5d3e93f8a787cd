//! `weir status | head -1`: a command whose reader goes away before it has
//! printed everything ends quietly with success, as `ls | head -1` does,
//! instead of panicking on the broken pipe.

use std::process::{Command, Output, Stdio};

use crate::support::{Weir, Workspace, settled_event};

const ROUTES: &str = r#"
[[route]]
name = "doomed"
match = { type = "doomed" }
plugins = ["test-always-fail"]
"#;

/// Runs `weir ARGS` against `weir` with its standard output a pipe whose
/// reader is already closed: the first line it prints fails, every time (with
/// `| head -1` it is the second line, and only if `head` is quick enough).
fn into_closed_pipe(weir: &Weir, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
        .args(args)
        .env("WEIR_URL", weir.url(""))
        .env_remove("WEIR_TOKEN")
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run weir")
}

#[test]
fn every_command_that_prints_ends_quietly_when_its_reader_has_gone() {
    let workspace = Workspace::new(&["test-always-fail"], ROUTES);
    let weir = workspace.start();
    let sent = weir.post_json(
        "/v1/events",
        r#"[{"id":"d-1","source":"cli","type":"doomed"},{"id":"d-2","source":"cli","type":"doomed"}]"#,
    );
    assert_eq!(sent.status, 202, "{}", sent.text);
    settled_event(&weir, "d-1");
    settled_event(&weir, "d-2");
    let events = workspace.path().join("one.json");
    std::fs::write(&events, r#"{"id":"d-3","source":"cli","type":"doomed"}"#).expect("write");
    let events = events.to_str().expect("UTF-8 path");
    let config = workspace.path().join("weir.toml");
    let plugins = workspace.path().join("plugins");

    let commands: &[&[&str]] = &[
        &["status"],
        &["dlq", "list"],
        &["plugins"],
        &["events", "show", "d-1"],
        &["send", events],
        &["dlq", "replay", "d-1"],
        &["dlq", "replay", "--all"],
        &["token", "new"],
        &[
            "routes",
            "check",
            config.to_str().expect("UTF-8 path"),
            "--plugins-dir",
            plugins.to_str().expect("UTF-8 path"),
        ],
        &["--help"],
        &["plugin", "--help"],
    ];
    for args in commands {
        let output = into_closed_pipe(&weir, args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(0),
            "weir {args:?} into a closed pipe: {stderr}"
        );
        assert!(stderr.is_empty(), "weir {args:?} said: {stderr}");
    }
    weir.stop();
}
