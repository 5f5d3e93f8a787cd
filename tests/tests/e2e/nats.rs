//! Several weir nodes on one NATS JetStream cluster: three real `nats-server`
//! processes on loopback and two weir nodes sharing the recorder's
//! deliveries, while a node or a server dies.

use std::time::Duration;

use serde_json::{Value, json};

use crate::admission;
use crate::nats_cluster::{NatsCluster, storage_section};
use crate::old_nats_server;
use crate::recorder::{self, Recorded, recorded_when_available};
use crate::slow;
use crate::support::{Weir, Workspace, now_ms, run_to_exit};
use weir::event::{Event, Priority, codec, rfc3339};

const KEYS: [&str; 4] = ["K0", "K1", "K2", "K3"];
const TOTAL: u64 = 200;
/// Events per request: each request carries events of every key, so both
/// nodes read and write every key's state at once.
pub(crate) const PER_REQUEST: u64 = 8;

/// A weir node on the cluster, running the recorder.
pub(crate) fn start_node(cluster: &NatsCluster, node: &str) -> (Workspace, Weir) {
    let settings = "[plugins.test-recorder]\ninstances = 4\ndeadline_ms = 1000\n\
                    [dispatch]\nlease_grace_ms = 500\n";
    let workspace = Workspace::new(
        &["test-recorder"],
        &recorder_config(cluster, node, settings),
    );
    let weir = workspace.start();
    (workspace, weir)
}

/// The config of a weir node named `node` on `cluster` with `settings`
/// (config lines), running the recorder on its route.
fn recorder_config(cluster: &NatsCluster, node: &str, settings: &str) -> String {
    format!(
        "{storage}{settings}{route}",
        storage = storage_section(cluster, node),
        route = recorder::ROUTE,
    )
}

/// Sends events `numbers` in requests of [`PER_REQUEST`], alternating
/// between `nodes` as a load balancer would, and sending a request again
/// while a node answers 503 (as a client should).
pub(crate) fn send(nodes: &[&Weir], numbers: std::ops::Range<u64>) {
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

/// Waits until `weir` reads `total` recorded numbers in the shared state
/// (a 503 while the cluster fails over is asked again).
pub(crate) fn wait_for_all(weir: &Weir, total: u64) -> Recorded {
    weir.wait_for("every event to be recorded", |weir| {
        let recorded = recorded_when_available(weir)?;
        let count: usize = recorded.order.values().map(Vec::len).sum();
        (count >= total as usize).then_some(recorded)
    })
}

/// Every number was recorded exactly once, under its own key, and each
/// key's in the order sent.
pub(crate) fn assert_each_once_in_order(recorded: &Recorded, total: u64) {
    let mut all: Vec<u64> = Vec::new();
    for (key, numbers) in &recorded.order {
        let index = KEYS.iter().position(|k| k == key).expect("a known key") as u64;
        assert!(
            numbers.iter().all(|n| n % KEYS.len() as u64 == index),
            "{key}: {numbers:?}"
        );
        assert!(numbers.is_sorted(), "{key} out of order: {numbers:?}");
        all.extend(numbers);
    }
    all.sort_unstable();
    let expected: Vec<u64> = (0..total).collect();
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

    let recorded = wait_for_all(&a, TOTAL);
    assert_each_once_in_order(&recorded, TOTAL);
    // Both nodes see the same state.
    assert_eq!(recorded.order, wait_for_all(&b, TOTAL).order);
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
    assert_each_once_in_order(&wait_for_all(&b, TOTAL), TOTAL);
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
    assert_each_once_in_order(&wait_for_all(&b, TOTAL), TOTAL);
    a.stop();
    b.stop();
}

#[test]
fn without_its_cluster_a_node_answers_503_and_is_not_ready() {
    let mut cluster = NatsCluster::start();
    let (dir, weir) = start_node(&cluster, "node-a");
    send(&[&weir], 0..PER_REQUEST);
    let embedded = dir.path().join("data").join("queue");
    assert!(
        !embedded.exists(),
        "on NATS no embedded database is opened: {}",
        embedded.display()
    );
    for server in 0..3 {
        cluster.kill(server);
    }
    let ready = weir.wait_for("/readyz to notice", |weir| {
        let answer = weir.get("/readyz");
        (answer.status == 503).then_some(answer.body)
    });
    assert_eq!(ready["status"], "nats_disconnected");
    let events = json!([recorder::event(TOTAL, None, false)]).to_string();
    let ingest = weir.post_json("/v1/events", &events);
    assert_eq!(ingest.status, 503, "{}", ingest.text);
    let request = json!({"plugin": "test-recorder", "since_sequence": 1});
    let replay = weir.post_json("/v1/replay", &request.to_string());
    assert_eq!(replay.status, 503, "{}", replay.text);
    let dead = weir.get("/v1/dead-letters");
    assert_eq!(dead.status, 503, "{}", dead.text);
    weir.stop();
}

/// JetStream refusing a delivery's commit (the `nats-commit` failpoint
/// stands in for a full batch queue or a leader change) is tried again at
/// once, in place: it commits within the settle timeout, though its ack
/// wait is ten minutes, with no attempt spent, and its effects apply once.
#[test]
fn a_refused_commit_is_tried_again_at_once_without_spending_an_attempt() {
    let cluster = NatsCluster::start();
    let settings = "[plugins.test-recorder]\ndeadline_ms = 1000\n\
                    [dispatch]\nlease_grace_ms = 600000\n";
    let config = recorder_config(&cluster, "node-a", settings);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", "nats-commit:eio:1")]);
    let body = json!([recorder::event(0, None, false)]).to_string();
    let sent = weir.post("/v1/events", "application/json", &body);
    assert_eq!(sent.status, 202, "{}", sent.text);

    let recorded = weir.wait_for("the delivery to commit", |weir| {
        let recorded = recorded_when_available(weir)?;
        recorded.seen.contains_key(&0).then_some(recorded)
    });
    assert_eq!(recorded.seen[&0], 1, "its effects apply once");
    weir.wait_for_log("the refused commit", |log| {
        log.contains("failpoint reached") && log.contains("nats-commit")
    });
    let event = weir.get("/v1/events/rec-0").body;
    let delivery = crate::support::delivery(&event, "test-recorder");
    assert_eq!(delivery["state"], "done", "{event}");
    assert_eq!(
        delivery["attempts"], 1,
        "the refusal spent no attempt: {event}"
    );
    weir.stop();
}

/// An attempt that outlives its ack wait (node a stalls 10 s between its
/// handler and its commit) while another attempt gives the same delivery
/// up (its redelivery, on either node, is past `max_attempts`): the
/// give-up's mark refuses a's late commit, so the delivery is dead and
/// applied nothing, not both. Replayed from its dead letter, it runs once.
#[test]
fn an_attempt_that_outlived_its_ack_wait_cannot_commit_what_another_node_gave_up() {
    let cluster = NatsCluster::start();
    // The ack wait: the deadline, 1 s of slack and 1 s of waiting for a slot.
    let settings = "[plugins.test-recorder]\ndeadline_ms = 500\nmax_attempts = 1\n\
                    [dispatch]\nlease_grace_ms = 0\n";
    let config = |node| recorder_config(&cluster, node, settings);
    let a_space = Workspace::new(&["test-recorder"], &config("node-a"));
    let a = a_space.start_with_env(&[("WEIR_FAILPOINT", "before-commit:stall10000:1")]);
    let body = json!([recorder::event(0, None, false)]).to_string();
    let sent = a.post_json("/v1/events", &body);
    assert_eq!(sent.status, 202, "{}", sent.text);
    a.wait_for_log("node a's attempt to stall before its commit", |log| {
        log.contains("failpoint reached") && log.contains("before-commit")
    });

    let b_space = Workspace::new(&["test-recorder"], &config("node-b"));
    let b = b_space.start();
    b.wait_for("node b to give the delivery up", |weir| {
        let event = weir.get("/v1/events/rec-0").body;
        (crate::support::delivery(&event, "test-recorder")["state"] == "dead").then_some(())
    });
    // Refused, or (were nothing to refuse it) committed and counted.
    a.wait_for("node a's stalled attempt to end", |weir| {
        let refused =
            (weir.log_text()).contains("this delivery was given up while this attempt ran");
        (refused || processed(weir) > 0.0).then_some(())
    });
    let event = b.get("/v1/events/rec-0").body;
    let delivery = crate::support::delivery(&event, "test-recorder");
    assert_eq!(delivery["state"], "dead", "{event}");
    let recorded = recorded_when_available(&b).expect("the cluster answers");
    assert!(
        !recorded.seen.contains_key(&0),
        "the late attempt applied nothing: {:?}",
        recorded.seen
    );

    let replayed = b.post_json("/v1/dead-letters/rec-0/replay", "");
    assert_eq!(replayed.status, 200, "{}", replayed.text);
    let recorded = b.wait_for("the replayed delivery to commit", |weir| {
        let recorded = recorded_when_available(weir)?;
        recorded.seen.contains_key(&0).then_some(recorded)
    });
    assert_eq!(recorded.seen[&0], 1, "it ran once: {:?}", recorded.seen);
    a.stop();
    b.stop();
}

/// Starts weir with `config` and checks that it exits at once with an
/// error that says `expected`.
fn assert_start_up_fails(config: &str, expected: &str) {
    let workspace = Workspace::new(&["test-recorder"], config);
    let (code, stderr) = run_to_exit(&workspace.serve_args(), &[], workspace.path());
    assert_ne!(code, Some(0), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
}

#[test]
fn an_unreachable_cluster_stops_start_up_naming_the_servers() {
    assert_start_up_fails(
        "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"nats://127.0.0.1:1\"]\nconnect_timeout_ms = 1000\n",
        "cannot reach NATS at nats://127.0.0.1:1 within 1s",
    );
}

#[test]
fn a_missing_credentials_file_stops_start_up_naming_it() {
    assert_start_up_fails(
        "[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"nats://127.0.0.1:1\"]\ncredentials = \"/nonexistent/weir.creds\"\n",
        "cannot use the NATS credentials file /nonexistent/weir.creds",
    );
}

#[test]
fn a_server_older_than_the_minimum_stops_start_up_naming_both_versions() {
    let server = old_nats_server::start("2.10.22");
    assert_start_up_fails(
        &format!("[storage]\nbackend = \"nats\"\n[storage.nats]\nservers = [\"{server}\"]\n"),
        "nats-server 2.10.22 is older than weir runs on (2.12.14 on the 2.12 line, 2.14.4 from 2.14 on;",
    );
}

#[test]
fn more_replicas_than_servers_stops_start_up_naming_the_stream() {
    let cluster = NatsCluster::start();
    let config = format!(
        "{}replicas = 5\nconnect_timeout_ms = 3000\n",
        storage_section(&cluster, "node-a")
    );
    assert_start_up_fails(&config, "cannot set up JetStream weir_deliveries");
}

/// A plugin whose file is removed on one node hands the deliveries that
/// node pulled and had not started back at once, rather than keeping them
/// (and their partitions) for as long as it runs: the other node runs
/// every one.
#[test]
fn a_plugin_removed_on_one_node_hands_its_waiting_deliveries_to_the_other() {
    let cluster = NatsCluster::start();
    let start = |node: &str| {
        let config = format!(
            "{storage}[reload]\ndebounce_ms = 50\n[plugins.test-slow]\ninstances = 1\n\
             [[route]]\nname = \"slow\"\nmatch = {{ type = \"slow\" }}\nplugins = [\"test-slow\"]\n",
            storage = storage_section(&cluster, node),
        );
        let workspace = Workspace::new(&["test-slow"], &config);
        let weir = workspace.start();
        (weir, workspace)
    };
    let (a, a_dir) = start("node-a");
    let (b, _b_dir) = start("node-b");
    let events: Vec<Value> = (0..12)
        .map(|n| json!({"id": format!("slow-{n}"), "source": "tests", "type": "slow", "data": {"sleep_ms": 300}}))
        .collect();
    let answer = a.post_json("/v1/events", &Value::Array(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let busy = r#"weir_instances_busy{plugin="test-slow"}"#;
    a.wait_for("node a to run a delivery", |a| {
        (a.metric(busy) == 1.0).then_some(())
    });

    std::fs::remove_file(a_dir.path().join("plugins/test-slow.wasm")).expect("remove");
    let processed = r#"weir_deliveries_processed_total{plugin="test-slow"}"#;
    a.wait_for("every delivery to run on either node", |a| {
        (a.metric(processed) + b.metric(processed) == 12.0).then_some(())
    });
    assert!(b.metric(processed) >= 1.0, "node b ran none");
    b.stop();
    a.stop();
}

/// A tenant paused through one node is paused for a node that starts
/// later, from its first request: the pause is the cluster's, and a node
/// reads the cluster's pauses before it serves.
#[test]
fn a_tenant_pause_holds_for_a_node_that_starts_later() {
    let cluster = NatsCluster::start();
    let (_a_dir, a) = start_node(&cluster, "node-a");
    let paused = a.post_json("/v1/tenants/acme/pause", "");
    assert_eq!(paused.status, 200, "{}", paused.text);
    let (_b_dir, b) = start_node(&cluster, "node-b");
    let tenants = b.get("/v1/tenants").body;
    let acme = (tenants["tenants"].as_array().into_iter().flatten())
        .find(|tenant| tenant["tenant"] == "acme");
    assert_eq!(
        acme.map(|tenant| &tenant["paused"]),
        Some(&json!(true)),
        "{tenants}"
    );
    b.stop();
    a.stop();
}

/// Events kept two seconds, so that what expires with them does in a test.
const SHORT_RETENTION: &str = "[queue]\nretention_ms = 2000\ndedup_window_ms = 1000\n";

/// One weir node on `cluster` with `settings` (config lines), running the
/// recorder on its route; the workspace must outlive the node.
fn recorder_node(cluster: &NatsCluster, settings: &str) -> (Workspace, Weir) {
    let config = recorder_config(cluster, "node-a", settings);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    (workspace, weir)
}

/// On NATS each node measures how long its ready deliveries wait from
/// what it has pulled: ingest sheds while they wait too long, and admits
/// again once the plugin has drained.
#[test]
fn ingest_sheds_while_the_deliveries_a_node_pulled_wait_too_long() {
    let cluster = NatsCluster::start();
    let config = format!(
        "{}{}",
        storage_section(&cluster, "node-a"),
        admission::OLDEST_READY
    );
    let workspace = Workspace::new(&["test-slow"], &config);
    let weir = workspace.start();
    slow::post(&weir, 0, 9, 300);
    admission::sheds_for_the_wait_then_reopens(&weir, 9);
    weir.stop();
}

/// A delivery that cannot be read is set aside with the dead letters as it
/// was, counted dead, and off the deliveries stream; the listings, which
/// have no event to show for it, skip it.
#[test]
fn an_unreadable_delivery_is_set_aside_with_the_dead_letters_as_it_was() {
    const GARBAGE: &[u8] = b"not an event";
    let cluster = NatsCluster::start();
    let (_workspace, weir) = recorder_node(&cluster, "");
    cluster.publish("weir.deliveries.test-recorder.any", GARBAGE.to_vec());

    let dead = r#"weir_deliveries_dead_total{plugin="test-recorder"}"#;
    weir.wait_for("the delivery to be set aside", |weir| {
        (weir.metric(dead) == 1.0).then_some(())
    });
    let subject = "weir.dead.test-recorder.~unreadable";
    let letter = cluster
        .last_message("weir_dead", subject)
        .expect("the set-aside delivery");
    assert_eq!(letter.payload, GARBAGE);
    let headers = &letter.headers;
    assert_eq!(
        letter.header("Weir-Reason"),
        Some("unreadable"),
        "{headers:?}"
    );
    let error = letter.header("Weir-Error").unwrap_or_default();
    assert!(error.starts_with("the delivery cannot be read"), "{error}");
    weir.wait_for("the deliveries stream to be empty", |weir| {
        (weir.metric(r#"weir_queue_depth{plugin="test-recorder"}"#) == 0.0).then_some(())
    });
    let listed = weir.get("/v1/dead-letters");
    assert_eq!(listed.status, 200, "{}", listed.text);
    assert_eq!(listed.body["dead_letters"], json!([]), "{}", listed.text);
    weir.stop();
}

/// A delivery an older weir stored, before priorities had feeds, is on its
/// plugin's one unkeyed subject whatever its priority: it runs from the
/// earlier normal feed, which is still drained.
#[test]
fn a_critical_delivery_an_older_weir_stored_runs_from_the_normal_feed() {
    let cluster = NatsCluster::start();
    let (_workspace, weir) = recorder_node(&cluster, "");
    let mut event = Event::new(
        "rec-5".into(),
        "tests".into(),
        recorder::TYPE.into(),
        "default".into(),
    );
    event.priority = Priority::Critical;
    event.datacontenttype = Some("application/json".into());
    event.data = json!({"n": 5, "retry_first": false})
        .to_string()
        .into_bytes();
    cluster.publish("weir.deliveries.test-recorder.any", codec::encode(&event));

    let recorded = weir.wait_for("the delivery to run", |weir| {
        recorded_when_available(weir).filter(|recorded| recorded.seen.contains_key(&5))
    });
    assert_eq!(recorded.seen.get(&5), Some(&1), "{:?}", recorded.seen);
    weir.wait_for("the deliveries stream to be empty", |weir| {
        (weir.metric(r#"weir_queue_depth{plugin="test-recorder"}"#) == 0.0).then_some(())
    });
    weir.stop();
}

/// An event an older weir stored has no ingest time of its own (0): a
/// replay by time goes by when the stream stored it.
#[test]
fn an_event_an_older_weir_stored_is_replayed_by_when_the_stream_stored_it() {
    let cluster = NatsCluster::start();
    let (_workspace, weir) = recorder_node(&cluster, "");
    let since = rfc3339(now_ms());
    std::thread::sleep(Duration::from_millis(5));
    let mut event = Event::new(
        "rec-7".into(),
        "tests".into(),
        recorder::TYPE.into(),
        "default".into(),
    );
    event.datacontenttype = Some("application/json".into());
    event.data = json!({"n": 7, "retry_first": false})
        .to_string()
        .into_bytes();
    cluster.publish("weir.events.older", codec::encode(&event));

    let request = json!({"plugin": "test-recorder", "since": since});
    let answer = weir.post_json("/v1/replay", &request.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let status_url = answer.body["status_url"].as_str().expect("status_url");
    let progress = weir.wait_for("the replay to end", |weir| {
        let progress = weir.get(status_url).body;
        (progress["status"] != "running").then_some(progress)
    });
    assert_eq!(progress["queued"], 1, "{progress:#}");
    let recorded = weir.wait_for("the replayed delivery to run", |weir| {
        recorded_when_available(weir).filter(|recorded| recorded.seen.contains_key(&7))
    });
    assert_eq!(recorded.seen.get(&7), Some(&1), "{:?}", recorded.seen);
    weir.stop();
}

/// The faults kept of a delivery that keeps trapping expire with its event
/// too, after `[queue] retention_ms`, though the delivery is not finished.
#[test]
fn a_deliverys_kept_faults_expire_with_its_event() {
    let cluster = NatsCluster::start();
    let settings = format!(
        "{SHORT_RETENTION}[plugins.test-recorder]\nmax_attempts = 25\npoison_after = 25\n\
         backoff_initial_ms = 60000\nbackoff_max_ms = 60000\n"
    );
    let (_workspace, weir) = recorder_node(&cluster, &settings);
    let trap = recorder::trap_event(1);
    assert_eq!(weir.post_json("/v1/events", &trap.to_string()).status, 202);
    weir.wait_for("the trap's fault to be kept", |_| {
        (cluster.bucket_keys("weir_records", "f.").len() == 1).then_some(())
    });
    weir.wait_for("the kept faults to expire", |_| {
        cluster
            .bucket_keys("weir_records", "f.")
            .is_empty()
            .then_some(())
    });
    weir.stop();
}

/// A delivery's commit record expires with its event, after `[queue]
/// retention_ms`: the records bucket does not grow for ever.
#[test]
fn a_commit_record_expires_with_its_event() {
    let cluster = NatsCluster::start();
    let (_workspace, weir) = recorder_node(&cluster, SHORT_RETENTION);
    send(&[&weir], 0..PER_REQUEST);
    let processed = r#"weir_deliveries_processed_total{plugin="test-recorder"}"#;
    weir.wait_for("every delivery to commit", |weir| {
        (weir.metric(processed) >= PER_REQUEST as f64).then_some(())
    });
    let records = cluster.bucket_keys("weir_records", "c.");
    assert_eq!(records.len(), PER_REQUEST as usize, "{records:?}");
    weir.wait_for("the commit records to expire", |_| {
        cluster
            .bucket_keys("weir_records", "c.")
            .is_empty()
            .then_some(())
    });
    weir.stop();
}

/// Streams an older weir set up again without atomic batches (its start
/// does, during a rolling upgrade) refuse a request's batches: the node
/// sets the events stream up to take batches again, says so, and sends
/// the events' batch again; the deliveries go one at a time. Every event
/// runs once.
#[test]
fn a_stream_an_older_weir_set_up_without_atomic_batches_is_set_up_again_to_take_them() {
    let cluster = NatsCluster::start();
    let (_workspace, weir) = recorder_node(&cluster, "");
    for stream in ["weir_events", "weir_deliveries"] {
        cluster.refuse_atomic_batches(stream);
        assert!(!cluster.takes_atomic_batches(stream));
    }

    let body = Value::Array((1..=3).map(|n| recorder::event(n, None, false)).collect());
    let answer = weir.post_json("/v1/events", &body.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let recorded = weir.wait_for("the three deliveries to run", |weir| {
        recorded_when_available(weir).filter(|recorded| recorded.seen.len() == 3)
    });
    for n in 1..=3 {
        assert_eq!(recorded.seen.get(&n), Some(&1), "{:?}", recorded.seen);
    }
    for what in ["events", "deliveries"] {
        let warning = format!("the {what} stream took no atomic batches");
        weir.wait_for_log(&warning, |log| log.contains(&warning));
    }
    assert!(cluster.takes_atomic_batches("weir_events"));
    assert!(cluster.takes_atomic_batches("weir_deliveries"));

    // The next request's batch is taken: no refusal, no second warning.
    let body = Value::Array((4..=5).map(|n| recorder::event(n, None, false)).collect());
    let answer = weir.post_json("/v1/events", &body.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let recorded = weir.wait_for("the next two deliveries to run", |weir| {
        recorded_when_available(weir).filter(|recorded| recorded.seen.len() == 5)
    });
    assert_eq!(recorded.seen.get(&4), Some(&1), "{:?}", recorded.seen);
    assert_eq!(recorded.seen.get(&5), Some(&1), "{:?}", recorded.seen);
    let log = weir.log_text();
    assert_eq!(log.matches("atomic batches").count(), 2, "{log}");
    weir.stop();
}
