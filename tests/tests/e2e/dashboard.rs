//! The live dashboard at `/`, driven in headless Chromium (Debian's
//! `chromium` and `chromium-driver`, with Selenium from PyPI; `.ci/run`
//! installs them): its charts draw live data, its tables list the plugins and
//! the dead letters, and its Replay button replays one. The test leaves a
//! screenshot, `dashboard.png`, in the test's workspace and copies it to
//! `target/dashboard.png`.

use std::time::Duration;

use serde_json::json;

use crate::support::{Workspace, run_python, settled_event};

/// The longest the browser run may take; it needs a few seconds.
const RUN_LIMIT: Duration = Duration::from_secs(120);

const CONFIG: &str = r#"
[plugins.test-always-fail]
max_attempts = 1

[[route]]
name = "doomed"
match = { type = "doomed" }
plugins = ["test-always-fail"]

[[route]]
name = "orders"
match = { type = "order.*" }
plugins = ["test-ack"]
"#;

#[test]
fn the_dashboard_charts_live_data_and_replays_a_dead_letter_in_a_real_browser() {
    let workspace = Workspace::new(&["test-ack", "test-always-fail"], CONFIG);
    let weir = workspace.start();
    let orders: Vec<_> = (0..40)
        .map(|n| json!({"id": format!("order-{n}"), "source": "shop", "type": "order.placed"}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(orders).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let doomed = json!({"id": "doomed-1", "source": "shop", "type": "doomed", "tenant": "acme"});
    let answer = weir.post_json("/v1/events", &doomed.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    settled_event(&weir, "doomed-1");
    // Two samples after the work, so the charts have a rate to draw.
    weir.wait_for("two samples of the processed events", |weir| {
        let samples = weir.get("/v1/dashboard").body["samples"].clone();
        let done = samples
            .as_array()?
            .iter()
            .filter(|sample| sample["processed"] == 40)
            .count();
        (done >= 2).then_some(())
    });

    let screenshot = workspace.path().join("dashboard.png");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/browser/dashboard.py");
    let (code, printed) = run_python(
        &[
            script,
            &weir.url("/"),
            screenshot.to_str().expect("utf-8 path"),
            "doomed-1",
        ],
        &workspace.path().join("browser.txt"),
        RUN_LIMIT,
    );
    assert_eq!(code, Some(0), "the browser run failed:\n{printed}");
    let seen: serde_json::Value = serde_json::from_str(printed.lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("no report from the browser run:\n{printed}"));
    assert!(seen["points"].as_u64() > Some(0), "{seen}");
    let row_with = |table: &str, cells: &[&str]| {
        seen[table]
            .as_str()
            .unwrap_or_default()
            .lines()
            .any(|row| cells.iter().all(|cell| row.contains(cell)))
    };
    assert!(row_with("plugins", &["test-ack", "serving"]), "{seen}");
    assert!(
        row_with("plugins", &["test-always-fail", "serving"]),
        "{seen}"
    );
    assert!(
        row_with(
            "dead_letters",
            &["doomed-1", "acme", "shop", "test-always-fail"]
        ),
        "{seen}"
    );
    assert_eq!(seen["replay_label"], "Replayed", "{seen}");
    assert!(
        seen["status"]
            .as_str()
            .unwrap_or_default()
            .starts_with("live"),
        "{seen}"
    );

    // The click reached weir: the letter was replayed, and failed again.
    assert_eq!(
        weir.metric(r#"weir_dead_letters_replayed_total{plugin="test-always-fail"}"#),
        1.0
    );
    weir.wait_for("the replayed delivery to be dead again", |weir| {
        (weir.metric(r#"weir_deliveries_dead_total{plugin="test-always-fail"}"#) == 2.0)
            .then_some(())
    });
    let png = std::fs::read(&screenshot).expect("the screenshot was saved");
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    // Kept where a person can look at it after the run.
    let kept = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&kept).expect("target directory");
    std::fs::copy(&screenshot, kept.join("dashboard.png")).expect("copy the screenshot");
    weir.stop();
}
