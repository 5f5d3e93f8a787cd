//! `/metrics` for the tools operators use: the classic text format passes
//! `promtool check metrics`, OpenMetrics is served to a client that asks for
//! it, and a real Prometheus server (Debian's `prometheus`, installed by
//! `.ci/run`), run with the repository's example config
//! (`deploy/prometheus.yml`), scrapes weir and answers a PromQL query.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{ACK_EVERYTHING, SETTLE_TIMEOUT, Weir, Workspace, settled_event};

/// The example scrape config the README points to.
const EXAMPLE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/prometheus.yml");

/// Starts weir and makes it ingest and handle `count` events.
fn weir_with_events(count: usize) -> (Workspace, Weir) {
    let workspace = Workspace::new(&["test-ack"], ACK_EVERYTHING);
    let weir = workspace.start();
    let events: Vec<Value> = (0..count)
        .map(|n| json!({"id": format!("m-{n}"), "source": "tests", "type": "t"}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    settled_event(&weir, &format!("m-{}", count - 1));
    (workspace, weir)
}

#[test]
fn metrics_pass_promtool_and_openmetrics_is_served_when_asked_for() {
    let (_workspace, weir) = weir_with_events(20);
    let classic = weir.get("/metrics");
    assert!(
        classic
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        classic.content_type
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs (Debian package prometheus; .ci/run installs it)");
    promtool
        .stdin
        .take()
        .expect("stdin")
        .write_all(classic.text.as_bytes())
        .expect("feed promtool");
    let checked = promtool.wait_with_output().expect("promtool ends");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    assert!(
        checked.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{}",
        classic.text
    );
    assert!(
        classic.text.contains("weir_events_ingested_total 20\n"),
        "{}",
        classic.text
    );

    let openmetrics = weir.request(
        "GET",
        "/metrics",
        &[("accept", "application/openmetrics-text; version=1.0.0")],
        "",
    );
    assert!(
        openmetrics
            .content_type
            .starts_with("application/openmetrics-text"),
        "{}",
        openmetrics.content_type
    );
    assert!(
        openmetrics.text.ends_with("# EOF\n"),
        "{}",
        openmetrics.text
    );
    weir.stop();
}

/// The Grafana dashboard built on weir's metrics.
const GRAFANA_DASHBOARD: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/grafana/weir.json");

/// Prometheus, stopped when dropped.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_real_prometheus_scrapes_weir_and_answers_a_query() {
    let (workspace, weir) = weir_with_events(25);
    let dir = workspace.path().join("prometheus");
    std::fs::create_dir_all(&dir).expect("prometheus dir");
    // The repository's example config, as promtool checks it, pointed at
    // this weir and scraping every second.
    let checked = Command::new("promtool")
        .args(["check", "config", EXAMPLE_CONFIG])
        .output()
        .expect("promtool runs (Debian package prometheus; .ci/run installs it)");
    assert!(checked.status.success(), "{checked:?}");
    let example = std::fs::read_to_string(EXAMPLE_CONFIG).expect("the example config");
    let config = example
        .replace("127.0.0.1:8080", &weir.addr.to_string())
        .replace("scrape_interval: 15s", "scrape_interval: 1s");
    assert!(
        config.contains(&weir.addr.to_string()) && config.contains("1s"),
        "{config}"
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("config");
    let listen = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = listen.local_addr().expect("address");
    drop(listen);
    let _prometheus = Prometheus(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log.txt")).expect("log"))
            .spawn()
            .expect("prometheus runs (Debian package prometheus; .ci/run installs it)"),
    );

    // Bounded: the scrape interval is 1 s; give it the settle timeout.
    let query = format!("http://{address}/api/v1/query?query=weir_events_ingested_total");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let value = loop {
        let answer: Option<Value> = ureq::get(&query)
            .call()
            .ok()
            .and_then(|mut response| response.body_mut().read_json().ok());
        let value = answer.as_ref().and_then(|answer| {
            answer["data"]["result"][0]["value"][1]
                .as_str()
                .map(str::to_owned)
        });
        if let Some(value) = value {
            break value;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never answered with weir's metric; its log:\n{}",
            std::fs::read_to_string(dir.join("log.txt")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(value, "25");

    // Prometheus accepts every query of the Grafana dashboard (that they
    // name only metrics weir exports is a unit test of `metrics.rs`).
    for expr in grafana_queries() {
        let answer: Value = ureq::get(format!("http://{address}/api/v1/query"))
            .query("query", &expr)
            .call()
            .expect("Prometheus answers")
            .body_mut()
            .read_json()
            .expect("JSON");
        assert_eq!(answer["status"], "success", "{expr}: {answer}");
    }
    weir.stop();
}

/// Every PromQL query of `deploy/grafana/weir.json`.
fn grafana_queries() -> Vec<String> {
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(GRAFANA_DASHBOARD).expect("the Grafana dashboard"),
    )
    .expect("the Grafana dashboard is JSON");
    let queries: Vec<String> = dashboard["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .flat_map(|panel| panel["targets"].as_array().cloned().unwrap_or_default())
        .map(|target| target["expr"].as_str().expect("expr").to_owned())
        .collect();
    assert!(queries.len() >= 10, "{queries:?}");
    queries
}
