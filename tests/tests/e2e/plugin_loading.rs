//! Plugins load in the background at start-up: weir ingests while a large
//! (Python) component compiles, `GET /v1/plugins` shows it `loading`,
//! `/readyz` answers 503 until it serves (or `[reload] ready_wait_ms` passes),
//! it can be paused before it first runs, and its deliveries run once it
//! serves; a broken file is rejected without stopping the others.

use std::time::Duration;

use serde_json::json;

use crate::support::{
    ACK_EVERYTHING, Weir, Workspace, built_example, delivery, plugin_component, settled_event,
};

/// How long an 18 MB Python component may take to compile on a shared
/// two-core machine.
const COMPILE_TIMEOUT: Duration = Duration::from_secs(180);

fn booking(id: &str) -> String {
    json!({"specversion": "1.0", "id": id, "source": "https://airbnb.example", "type": "booking.webhook",
           "data": {"channel": "airbnb", "reservation": {"code": "HM1", "listing_id": "L1",
             "guest": {"first_name": "Ada", "last_name": "Lovelace"},
             "start_date": "2026-12-01", "end_date": "2026-12-04",
             "payout": {"amount": "412.50", "currency": "EUR"}}}})
    .to_string()
}

#[test]
fn weir_ingests_while_a_large_plugin_compiles() {
    let workspace = python_workspace("");
    // A fresh data directory: nothing cached, so the 18 MB component compiles for seconds.
    let weir = Weir::start_listening(&workspace.serve_args(), &[], workspace.path());
    let plugins = weir.get("/v1/plugins").body;
    let entry = &plugins["plugins"][0];
    assert_eq!(entry["name"], "booking-normalizer-py", "{plugins:#}");
    assert_eq!(entry["state"], "loading", "{plugins:#}");
    assert!(entry["loading_since"].is_string(), "{plugins:#}");
    let ready = weir.get("/readyz");
    assert_eq!(
        ready.status, 503,
        "not ready while compiling: {}",
        ready.text
    );
    assert_eq!(ready.body["status"], "plugins_loading", "{}", ready.text);
    assert_eq!(ready.body["loading"], json!(["booking-normalizer-py"]));
    let answer = weir.post_json("/v1/events", &booking("while-loading"));
    assert_eq!(
        answer.status, 202,
        "ingest does not wait for plugins: {}",
        answer.text
    );

    // An operator can pause it before it first runs, and it loads paused.
    let paused = weir.post_json("/v1/plugins/booking-normalizer-py/pause", "");
    assert_eq!(paused.status, 200, "{}", paused.text);
    let plugins = weir.get("/v1/plugins").body;
    let entry = &plugins["plugins"][0];
    assert_eq!(entry["paused"], true, "{plugins:#}");
    for key in [
        "version",
        "instances",
        "deliveries",
        "breakers",
        "http",
        "rejected",
    ] {
        assert!(
            entry.get(key).is_some(),
            "a loading plugin shows {key:?} too: {plugins:#}"
        );
    }
    // Compiling the component takes the longest of anything the tests wait
    // for, and longer still while other tests share the cores.
    weir.wait_for_within("the plugin to load, paused", COMPILE_TIMEOUT, |weir| {
        let plugins = weir.get("/v1/plugins").body;
        (plugins["plugins"][0]["state"] == "paused").then_some(())
    });
    let event = weir.get("/v1/events/while-loading").body;
    assert_ne!(
        delivery(&event, "booking-normalizer-py")["state"],
        "done",
        "paused before it ran: {event:#}"
    );
    let resumed = weir.post_json("/v1/plugins/booking-normalizer-py/resume", "");
    assert_eq!(resumed.status, 200, "{}", resumed.text);

    let event = settled_event(&weir, "while-loading");
    assert_eq!(
        delivery(&event, "booking-normalizer-py")["state"],
        "done",
        "{event:#}"
    );
    let plugins = weir.get("/v1/plugins").body;
    assert_eq!(plugins["plugins"][0]["state"], "serving", "{plugins:#}");
    assert_eq!(
        plugins["plugins"][0]["loading_since"],
        json!(null),
        "{plugins:#}"
    );
    assert!(weir.log_text().contains("plugins loaded"));
    let ready = weir.get("/readyz");
    assert_eq!(ready.status, 200, "ready once it serves: {}", ready.text);
    weir.stop();
}

#[test]
fn readyz_stops_waiting_for_a_slow_plugin_after_ready_wait() {
    let workspace = python_workspace("[reload]\nready_wait_ms = 1\n");
    let weir = Weir::start_listening(&workspace.serve_args(), &[], workspace.path());
    let plugins = weir.get("/v1/plugins").body;
    assert_eq!(plugins["plugins"][0]["state"], "loading", "{plugins:#}");
    let ready = weir.get("/readyz");
    assert_eq!(ready.status, 200, "the wait is over: {}", ready.text);
    weir.wait_for_log(
        "the log to say which plugin readiness stopped waiting for",
        |log| {
            log.contains("still compiling after [reload] ready_wait_ms")
                && log.contains("booking-normalizer-py")
        },
    );
    // Killed rather than stopped: nothing here needs the compilation to finish.
    weir.kill();
}

/// A workspace whose one plugin, the Python example, compiles for seconds.
fn python_workspace(settings: &str) -> Workspace {
    let config = format!(
        "{settings}[[route]]\nname = \"normalize\"\nmatch = {{ type = \"booking.webhook\" }}\nplugins = [\"booking-normalizer-py\"]\n"
    );
    let workspace = Workspace::new(&[], &config);
    std::fs::copy(
        built_example("booking-normalizer-py"),
        workspace.path().join("plugins/booking-normalizer-py.wasm"),
    )
    .expect("copy the component");
    workspace
}

#[test]
fn a_broken_plugin_file_at_start_up_is_rejected_and_the_others_serve() {
    let workspace = Workspace::new(&["test-ack"], ACK_EVERYTHING);
    std::fs::write(
        workspace.path().join("plugins/broken.wasm"),
        b"\0asm not really",
    )
    .expect("write");
    let weir = workspace.start();
    let plugins = weir.get("/v1/plugins").body;
    let list = plugins["plugins"].as_array().expect("a list");
    let broken = list
        .iter()
        .find(|p| p["name"] == "broken")
        .expect("broken is listed");
    assert_eq!(broken["state"], "rejected", "{plugins:#}");
    let reason = broken["rejected"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("broken.wasm"),
        "the reason names the file: {reason}"
    );
    assert!(
        weir.log_text().contains("broken.wasm"),
        "and so does the log"
    );

    the_others_serve(&weir);
    weir.stop();
}

/// A FIFO named like a plugin would block the reload that reads it: it is
/// refused as not a regular file, at start-up and on a reload, with a log
/// line naming it, and the plugins beside it load.
#[test]
fn a_fifo_named_like_a_plugin_is_refused_without_blocking_reloads() {
    let workspace = Workspace::new(&["test-ack"], ACK_EVERYTHING);
    let plugins_dir = workspace.path().join("plugins");
    let mkfifo = |name: &str| {
        let status = std::process::Command::new("mkfifo")
            .arg(plugins_dir.join(name))
            .status()
            .expect("run mkfifo");
        assert!(status.success(), "mkfifo {name}");
    };
    mkfifo("pipe.wasm");
    let weir = workspace.start();
    weir.wait_for_log("pipe.wasm to be refused", |log| {
        log.contains("pipe.wasm: not a regular file")
    });

    // A reload meets another FIFO and a real plugin: it finishes, and the
    // real one serves.
    mkfifo("later.wasm");
    std::fs::copy(
        plugin_component("test-ack"),
        plugins_dir.join("also-ack.wasm"),
    )
    .expect("copy the plugin");
    weir.wait_for("also-ack to serve", |weir| {
        let plugins = weir.get("/v1/plugins").body;
        plugins["plugins"]
            .as_array()?
            .iter()
            .any(|p| p["name"] == "also-ack" && p["state"] == "serving")
            .then_some(())
    });
    weir.wait_for_log("later.wasm to be refused", |log| {
        log.contains("later.wasm: not a regular file")
    });
    weir.stop();
}

/// A manifest with an unknown key rejects its plugin, with the file, the key
/// and the keys there are, and weir starts with the others.
#[test]
fn a_plugin_manifest_with_an_unknown_key_is_rejected_naming_its_file() {
    let workspace = Workspace::new(&["test-recorder", "test-ack"], ACK_EVERYTHING);
    std::fs::write(
        workspace.path().join("plugins/test-recorder.toml"),
        "deadline_ms = 100\nfuell = 10\n",
    )
    .expect("write manifest");
    let weir = workspace.start();
    let plugins = weir.get("/v1/plugins").body;
    let recorder = plugins["plugins"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["name"] == "test-recorder"))
        .unwrap_or_else(|| panic!("test-recorder is listed: {plugins:#}"));
    assert_eq!(recorder["state"], "rejected", "{plugins:#}");
    let reason = recorder["rejected"]["reason"].as_str().unwrap_or_default();
    for says in [
        "test-recorder.toml",
        "unknown field `fuell`, expected one of `fuel`, `memory_bytes`",
        "[config] and [capabilities]",
    ] {
        assert!(reason.contains(says), "{says:?} in {reason}");
    }
    the_others_serve(&weir);
    weir.stop();
}

/// An event reaches `test-ack` and is done: the plugins beside a rejected one serve.
fn the_others_serve(weir: &Weir) {
    let answer = weir.post_json(
        "/v1/events",
        r#"{"specversion":"1.0","id":"fine","source":"t","type":"anything"}"#,
    );
    assert_eq!(answer.status, 202, "{}", answer.text);
    let event = settled_event(weir, "fine");
    assert_eq!(delivery(&event, "test-ack")["state"], "done", "{event:#}");
}
