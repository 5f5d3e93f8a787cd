//! What both storage backends promise, checked on each through what a client
//! sees (ingest answers, metrics, plugin state): the embedded fjall store as
//! one node, and NATS JetStream as two nodes on a three-server cluster, with
//! requests alternating between them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::breaker::quick_breaker_for;
use crate::dead_letters::{dashboard_dead_letters, latest_twenty};
use crate::fairness;
use crate::nats_cluster::{NatsCluster, storage_section};
use crate::recorder::{self, recorded_when_available};
use crate::restart;
use crate::support::{Weir, Workspace, delivery, now_ms, settled_event};
use weir::event::rfc3339;

/// The backends every test here runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Fjall,
    Nats,
}

const BACKENDS: [Backend; 2] = [Backend::Fjall, Backend::Nats];

/// weir on one backend: one node on fjall, two sharing a cluster on NATS.
struct Deployment {
    /// Each node before its workspace: a node dropped in a failing test
    /// shows its log, which lives in the workspace.
    nodes: Vec<(Weir, Workspace)>,
    /// Dropped after the nodes: they stop before their cluster.
    _cluster: Option<NatsCluster>,
}

impl Deployment {
    fn start(backend: Backend, plugins: &[&str], config: &str) -> Deployment {
        Deployment::start_with_env(backend, plugins, config, &[])
    }

    /// Like [`Deployment::start`], every node with `envs` (failpoints).
    fn start_with_env(
        backend: Backend,
        plugins: &[&str],
        config: &str,
        envs: &[(&str, &str)],
    ) -> Deployment {
        let start = |storage: String| {
            let workspace = Workspace::new(plugins, &format!("{storage}{config}"));
            let weir = workspace.start_with_env(envs);
            (weir, workspace)
        };
        match backend {
            Backend::Fjall => Deployment {
                nodes: vec![start(String::new())],
                _cluster: None,
            },
            Backend::Nats => {
                let cluster = NatsCluster::start();
                let nodes = ["node-a", "node-b"]
                    .iter()
                    .map(|node| start(storage_section(&cluster, node)))
                    .collect();
                Deployment {
                    nodes,
                    _cluster: Some(cluster),
                }
            }
        }
    }

    /// The node request `index` goes to, as a round-robin balancer would pick.
    fn node(&self, index: usize) -> &Weir {
        &self.nodes[index % self.nodes.len()].0
    }

    /// `POST /v1/events` of `events` to node `index`: its answer's body.
    fn post(&self, index: usize, events: &[Value]) -> Value {
        let answer = self
            .node(index)
            .post_json("/v1/events", &Value::Array(events.to_vec()).to_string());
        assert_eq!(answer.status, 202, "{}", answer.text);
        answer.body
    }

    /// `POST path` (an operator's action) through every node, each
    /// answering 200: a node learns of another's pause only a moment later.
    fn on_every_node(&self, path: &str) {
        for (weir, _) in &self.nodes {
            let answer = weir.post_json(path, "");
            assert_eq!(answer.status, 200, "{path}: {}", answer.text);
        }
    }

    /// Kills node `index` with SIGKILL, as a crash would, and starts it again.
    fn crash_and_restart(&mut self, index: usize) {
        let (weir, workspace) = self.nodes.remove(index);
        weir.kill();
        let weir = workspace.start();
        self.nodes.insert(index, (weir, workspace));
    }

    /// A metric's sample summed over the nodes.
    fn metric(&self, sample: &str) -> f64 {
        self.nodes.iter().map(|(weir, _)| weir.metric(sample)).sum()
    }

    /// Waits until the metric `sample`, over all nodes, reaches `expected`.
    fn wait_for_metric(&self, sample: &str, expected: f64) {
        self.node(0)
            .wait_for(sample, |_| (self.metric(sample) >= expected).then_some(()));
    }
}

fn event(id: &str) -> Value {
    json!({"id": id, "source": "tests", "type": "suite.event", "data": {}})
}

/// The recorder with `limits` (lines of its plugin section), on its route.
fn recorder_config(limits: &str) -> String {
    format!("[plugins.test-recorder]\n{limits}{}", recorder::ROUTE)
}

/// test-ack on `backend`, routed every suite event, with `settings` (whole
/// config sections).
fn test_ack_with(backend: Backend, settings: &str) -> Deployment {
    let config = format!("{settings}{}", route_to("test-ack", ""));
    Deployment::start(backend, &["test-ack"], &config)
}

fn route_to(plugin: &str, limits: &str) -> String {
    format!(
        "[plugins.{plugin}]\n{limits}\n[[route]]\nname = \"all\"\nmatch = {{ type = \"suite.*\" }}\nplugins = [\"{plugin}\"]\n"
    )
}

#[test]
fn each_backend_runs_every_delivery_once_and_stores_a_resend_once() {
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-ack"], &route_to("test-ack", ""));
        let events: Vec<Value> = (0..20).map(|n| event(&format!("ack-{n}"))).collect();
        for (index, chunk) in events.chunks(5).enumerate() {
            weir.post(index, chunk);
        }
        let again = weir.post(1, &events[..5]);
        assert_eq!(
            again["duplicates"].as_array().map(Vec::len),
            Some(5),
            "{backend:?}: {again}"
        );
        let processed = r#"weir_deliveries_processed_total{plugin="test-ack"}"#;
        weir.wait_for_metric(processed, 20.0);
        // The resent events were not stored, so they do not run again.
        assert_eq!(weir.metric(processed), 20.0, "{backend:?}");
    }
}

/// A resent event is a duplicate, answered as a replay; the same identity
/// with other content is refused (422) and nothing of its request is
/// stored, however long after the first (on NATS, past JetStream's
/// duplicate window too); another source may use the id.
#[test]
fn each_backend_refuses_an_identity_reused_with_other_content() {
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-ack"], &route_to("test-ack", ""));
        let numbered = |id: &str, n: u32| json!({"id": id, "source": "shop", "type": "suite.event", "data": {"n": n}});
        let post = |index: usize, events: Value| {
            weir.node(index)
                .post_json("/v1/events", &events.to_string())
        };
        let first = post(0, numbered("e1", 1));
        assert_eq!(first.status, 202, "{backend:?}: {}", first.text);
        assert_eq!(first.replayed, None);
        let again = post(1, numbered("e1", 1));
        assert_eq!(again.status, 202, "{backend:?}: {}", again.text);
        assert_eq!(again.body["duplicates"], json!(["e1"]), "{backend:?}");
        assert_eq!(again.replayed.as_deref(), Some("true"), "{backend:?}");

        // A new event beside one that reuses e1's identity: neither is stored.
        let fresh = json!({"id": "e2", "source": "shop", "type": "suite.event"});
        let reused = post(1, json!([fresh, numbered("e1", 2)]));
        assert_eq!(reused.status, 422, "{backend:?}: {}", reused.text);
        assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");
        let message = reused.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("event 1: id \"e1\" from source \"shop\""),
            "{backend:?}: {message}"
        );
        assert_eq!(weir.node(0).get("/v1/events/e2").status, 404, "{backend:?}");
        // Within one request too.
        let twice = post(0, json!([numbered("e3", 3), numbered("e3", 4)]));
        assert_eq!(twice.status, 422, "{backend:?}: {}", twice.text);
        let message = twice.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("event 1: id \"e3\""),
            "{backend:?}: {message}"
        );
        assert_eq!(weir.node(1).get("/v1/events/e3").status, 404, "{backend:?}");

        let stored = weir.node(1).get("/v1/events/e1");
        assert_eq!(
            stored.body["data"],
            json!({"n": 1}),
            "{backend:?}: {}",
            stored.text
        );
        // Another source may use the id.
        let other = json!({"id": "e1", "source": "pos", "type": "suite.event", "data": {"n": 2}});
        let answer = post(0, other);
        assert_eq!(answer.status, 202, "{backend:?}: {}", answer.text);
        assert_eq!(answer.body["duplicates"], json!([]), "{backend:?}");
        // e1 from each source, once.
        assert_stored_and_acked_once(&weir, backend, 2.0);
    }
}

/// Two requests racing with one identity and other content (on NATS each
/// to a node of its own), each with a new event of its own beside it: one
/// request is admitted and the other refused with nothing of it stored, and
/// what runs is the admitted content (on NATS a request's new events are
/// stored as one atomic batch before their deliveries are published, so a
/// refused request's delivery never runs). Racing with the same content,
/// both are admitted, with their own events, and the raced one runs once.
#[test]
fn each_backend_runs_the_admitted_one_of_two_requests_racing_with_one_identity() {
    const RACES: u64 = 30;
    const SAME_CONTENT_RACES: u64 = 10;
    // The racers' content: the recorder counts each number it sees; each
    // racer's own event is its number plus `OWN`.
    const OWN: u64 = 2000;
    let contents = |race: u64| [race, race + 1000];
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-recorder"], &recorder_config(""));
        let mut admitted = Vec::new();
        let mut refused_own = Vec::new();
        for race in 0..RACES {
            let statuses = std::thread::scope(|scope| {
                let racers = contents(race).map(|n| {
                    let mut event = recorder::event(n, None, false);
                    event["id"] = json!(format!("race-{race}"));
                    let body = json!([recorder::event(n + OWN, None, false), event]).to_string();
                    let node = weir.node(usize::from(n >= 1000));
                    scope.spawn(move || node.post_json("/v1/events", &body))
                });
                racers.map(|racer| racer.join().expect("a racer's answer"))
            });
            let answered = |status: u16| {
                (contents(race).into_iter().zip(&statuses))
                    .filter(move |(_, answer)| answer.status == status)
                    .map(|(n, _)| n)
                    .collect::<Vec<u64>>()
            };
            let (winners, refused) = (answered(202), answered(422));
            assert_eq!(winners.len(), 1, "{backend:?}: {statuses:?}");
            assert_eq!(refused.len(), 1, "{backend:?}: {statuses:?}");
            admitted.extend([winners[0], winners[0] + OWN]);
            refused_own.push(refused[0] + OWN);
        }
        // With the same content both are admitted, and both their own
        // events stored: the raced one is a duplicate for one of them.
        for race in 0..SAME_CONTENT_RACES {
            let raced = 5000 + race;
            let statuses = std::thread::scope(|scope| {
                let racers = [6000 + race, 7000 + race].map(|own| {
                    let body = json!([
                        recorder::event(own, None, false),
                        recorder::event(raced, None, false)
                    ])
                    .to_string();
                    let node = weir.node(usize::from(own >= 7000));
                    scope.spawn(move || node.post_json("/v1/events", &body))
                });
                racers.map(|racer| racer.join().expect("a racer's answer"))
            });
            assert!(
                statuses.iter().all(|answer| answer.status == 202),
                "{backend:?}: {statuses:?}"
            );
            admitted.extend([raced, 6000 + race, 7000 + race]);
        }
        for n in &refused_own {
            let id = format!("rec-{n}");
            let answer = weir.node(0).get(&format!("/v1/events/{id}"));
            assert_eq!(
                answer.status, 404,
                "{backend:?}: {id} stored: {}",
                answer.text
            );
        }
        let processed = r#"weir_deliveries_processed_total{plugin="test-recorder"}"#;
        weir.wait_for_metric(processed, admitted.len() as f64);
        let recorded = weir
            .node(0)
            .wait_for("every admitted event recorded", |node| {
                let recorded = recorded_when_available(node)?;
                (recorded.seen.len() >= admitted.len()).then_some(recorded)
            });
        assert_eq!(
            weir.metric(processed),
            admitted.len() as f64,
            "{backend:?}: deliveries run"
        );
        for n in &admitted {
            assert_eq!(recorded.seen.get(n), Some(&1), "{backend:?}: {n}");
        }
        assert_eq!(
            recorded.seen.len(),
            admitted.len(),
            "{backend:?}: {:?}",
            recorded.seen
        );
    }
}

/// Waits until `test-ack` has processed `events` deliveries, and checks
/// that exactly that many events were stored and no delivery ran twice.
fn assert_stored_and_acked_once(weir: &Deployment, backend: Backend, events: f64) {
    let processed = r#"weir_deliveries_processed_total{plugin="test-ack"}"#;
    weir.wait_for_metric(processed, events);
    let ingested = weir.metric("weir_events_ingested_total");
    assert_eq!(ingested, events, "{backend:?}: events stored");
    assert_eq!(
        weir.metric(processed),
        events,
        "{backend:?}: deliveries run"
    );
}

/// A request repeated with its `Idempotency-Key` gets the first answer
/// again on any node, even for events sent without ids (whose ids only the
/// recorded answer can repeat), and stores nothing new; the key on another
/// request gets 422.
#[test]
fn each_backend_answers_a_keyed_request_again_from_any_node() {
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-ack"], &route_to("test-ack", ""));
        let keyed = |index: usize, key: &str, body: &Value| {
            let headers = [
                ("content-type", "application/json"),
                ("idempotency-key", key),
            ];
            weir.node(index)
                .post_with("/v1/events", &headers, &body.to_string())
        };
        let batch = json!([
            {"source": "shop", "type": "suite.placed"},
            {"source": "shop", "type": "suite.paid"},
        ]);
        let first = keyed(0, "order-42", &batch);
        assert_eq!(first.status, 202, "{backend:?}: {}", first.text);
        assert_eq!(first.replayed, None, "{backend:?}");
        let again = keyed(1, "order-42", &batch);
        assert_eq!(again.status, 202, "{backend:?}: {}", again.text);
        assert_eq!(again.replayed.as_deref(), Some("true"), "{backend:?}");
        assert_eq!(again.body, first.body, "{backend:?}: the replay differs");

        let other = json!({"id": "other", "source": "shop", "type": "suite.placed"});
        let reused = keyed(1, "order-42", &other);
        assert_eq!(reused.status, 422, "{backend:?}: {}", reused.text);
        assert_eq!(reused.body["error"]["code"], "idempotency_key_reused");
        assert_eq!(
            weir.node(0).get("/v1/events/other").status,
            404,
            "{backend:?}"
        );

        assert_stored_and_acked_once(&weir, backend, 2.0);
    }
}

/// Deliveries that read and write one state key at once (no ordering key:
/// they run side by side, on every node) lose no write: a commit whose read
/// changed under it stores nothing and runs again, so the counter ends at
/// exactly the number of events.
#[test]
fn each_backend_loses_no_write_to_a_key_many_deliveries_change_at_once() {
    const EVENTS: usize = 40;
    for backend in BACKENDS {
        let config = recorder_config("instances = 4\n");
        let weir = Deployment::start(backend, &["test-recorder"], &config);
        let events = recorder::increments(EVENTS as u64);
        for (index, chunk) in events.chunks(4).enumerate() {
            weir.post(index, chunk);
        }
        let processed = r#"weir_deliveries_processed_total{plugin="test-recorder"}"#;
        weir.wait_for_metric(processed, EVENTS as f64);
        let recorded = recorded_when_available(weir.node(1)).expect("the recorder's state");
        assert_eq!(
            recorded.seen.get(&7),
            Some(&(EVENTS as u64)),
            "{backend:?}: every increment counted once"
        );
    }
}

/// A delivery waiting for its next attempt after a trap shows that trap in
/// its history, from any node (on NATS, where it is not finished, the
/// faults kept of it in a row are what is known of its attempts).
#[test]
fn each_backend_shows_a_pending_deliverys_faults() {
    let limits = "backoff_initial_ms = 60000\nbackoff_max_ms = 60000\n";
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-recorder"], &recorder_config(limits));
        weir.post(0, &[recorder::trap_event(1)]);
        let pending = weir
            .node(1)
            .wait_for("the trap in the delivery's history", |node| {
                let event = node.get("/v1/events/rec-1").body;
                let pending = event["deliveries"].as_array()?.first()?.clone();
                let waiting = ["scheduled", "ready"].contains(&pending["state"].as_str()?);
                (waiting && !pending["history"].as_array()?.is_empty()).then_some(pending)
            });
        // The next attempt is due within a minute: it may have trapped too.
        let history = pending["history"].as_array().expect("history");
        assert!(
            history.iter().all(|attempt| attempt["outcome"] == "trap"),
            "{backend:?}: {pending}"
        );
        assert_eq!(pending["attempts"], history.len(), "{backend:?}: {pending}");
    }
}

/// `GET /v1/plugins/{name}/state` lists one tenant's entries in key order,
/// page by page, and nothing of another tenant's.
#[test]
fn each_backend_lists_one_tenants_state_page_by_page() {
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-recorder"], &recorder_config(""));
        let acme: Vec<Value> = (1..=5)
            .map(|n| recorder::tenant_event(n, "acme", None))
            .collect();
        let globex: Vec<Value> = (1..=3)
            .map(|n| recorder::tenant_event(n + 10, "globex", None))
            .collect();
        weir.post(0, &acme);
        weir.post(1, &globex);
        let processed = r#"weir_deliveries_processed_total{plugin="test-recorder"}"#;
        weir.wait_for_metric(processed, 8.0);

        for (tenant, expected) in [
            (
                "acme",
                ["seen:1", "seen:2", "seen:3", "seen:4", "seen:5"].as_slice(),
            ),
            ("globex", ["seen:11", "seen:12", "seen:13"].as_slice()),
        ] {
            let first = format!("/v1/plugins/test-recorder/state?tenant={tenant}&limit=2");
            let (mut listed, mut path) = (Vec::new(), first.clone());
            // Bounded: three pages hold either tenant's entries.
            for _ in 0..4 {
                let page = weir.node(1).get(&path);
                assert_eq!(page.status, 200, "{backend:?}: {}", page.text);
                for entry in page.body["entries"].as_array().expect("entries") {
                    assert_eq!(entry["value"], 1, "{backend:?}: {entry}");
                    listed.push(entry["key"].as_str().expect("key").to_owned());
                }
                match page.body["next_after"].as_str() {
                    Some(after) => path = format!("{first}&after={after}"),
                    None => break,
                }
            }
            assert_eq!(listed, expected, "{backend:?}: {tenant}");
        }
    }
}

/// A `state.get` the store cannot answer fails the attempt as
/// `state_unavailable`: the delivery runs again and its effects apply once,
/// and the store's failure is not held against the plugin.
#[test]
fn each_backend_retries_an_attempt_whose_state_read_failed() {
    for backend in BACKENDS {
        let config = recorder_config("backoff_initial_ms = 10\nbackoff_max_ms = 100\n");
        let weir = Deployment::start_with_env(
            backend,
            &["test-recorder"],
            &config,
            &[("WEIR_FAILPOINT", "state-read:eio:1")],
        );
        weir.post(0, &[recorder::event(0, None, false)]);
        let recorded = weir.node(0).wait_for("the delivery to commit", |node| {
            let recorded = recorded_when_available(node)?;
            recorded.seen.contains_key(&0).then_some(recorded)
        });
        assert_eq!(recorded.seen[&0], 1, "{backend:?}: its effects apply once");
        // Each node fails its own first read: once on fjall, once or twice
        // on NATS, as the second attempt goes to either node.
        let failed =
            r#"weir_deliveries_failed_total{plugin="test-recorder",reason="state_unavailable"}"#;
        let nodes = weir.nodes.len() as f64;
        let failures = weir.metric(failed);
        assert!((1.0..=nodes).contains(&failures), "{backend:?}: {failures}");
        let plugins = weir.node(0).get("/v1/plugins").body;
        let recorder = plugins["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == "test-recorder"))
            .unwrap_or_else(|| panic!("{backend:?}: no test-recorder in {plugins}"));
        assert_eq!(recorder["breaker"], "closed", "{backend:?}: {recorder}");
    }
}

/// Every node sheds above the backlog's high-water mark and admits again
/// once it drains: on NATS each node measures the cluster's backlog.
#[test]
fn each_backend_sheds_above_the_backlog_high_water_mark_and_reopens() {
    for backend in BACKENDS {
        let marks = "[ingest]\nbacklog_high_water = 10\nbacklog_low_water = 2\n";
        let weir = test_ack_with(backend, marks);
        let nodes = weir.nodes.len();
        weir.on_every_node("/v1/plugins/test-ack/pause");
        for n in 0..10 {
            weir.post(n, &[event(&format!("backlog-{n}"))]);
        }
        let depth = r#"weir_queue_depth{plugin="test-ack"}"#;
        for index in 0..nodes {
            let node = weir.node(index);
            node.wait_for("the backlog of 10", |node| {
                (node.metric(depth) == 10.0).then_some(())
            });
            let shed = node.post_json("/v1/events", &json!([event("shed")]).to_string());
            assert_eq!(shed.status, 503, "{backend:?}: {}", shed.text);
            assert_eq!(shed.body["error"]["code"], "overloaded", "{backend:?}");
        }
        weir.on_every_node("/v1/plugins/test-ack/resume");
        let processed = r#"weir_deliveries_processed_total{plugin="test-ack"}"#;
        weir.wait_for_metric(processed, 10.0);
        for index in 0..nodes {
            let node = weir.node(index);
            node.wait_for("the backlog to drain", |node| {
                (node.metric(depth) == 0.0).then_some(())
            });
            let id = format!("after-{index}");
            let answer = node.post_json("/v1/events", &json!([event(&id)]).to_string());
            assert_eq!(answer.status, 202, "{backend:?}: {}", answer.text);
        }
    }
}

/// A plugin paused through one node is paused on every node, and resumed
/// through another it runs everywhere again.
#[test]
fn each_backend_pauses_a_plugin_on_every_node() {
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-ack"], &route_to("test-ack", ""));
        let nodes = weir.nodes.len();
        let set_paused = |index: usize, action: &str| {
            let path = format!("/v1/plugins/test-ack/{action}");
            let answer = weir.node(index).post_json(&path, "");
            assert_eq!(answer.status, 200, "{backend:?}: {}", answer.text);
        };
        let paused_on = |index: usize, paused: bool| {
            weir.node(index)
                .wait_for("the pause to reach the node", |node| {
                    let plugins = node.get("/v1/plugins").body;
                    (plugins["plugins"][0]["paused"] == paused).then_some(())
                });
        };
        set_paused(0, "pause");
        for index in 0..nodes {
            paused_on(index, true);
            weir.post(index, &[event(&format!("held-{index}"))]);
        }
        // Every event is stored, and nothing runs: wait until each node
        // counts them in its backlog.
        let depth = r#"weir_queue_depth{plugin="test-ack"}"#;
        for index in 0..nodes {
            weir.node(index).wait_for("the held deliveries", |node| {
                (node.metric(depth) == nodes as f64).then_some(())
            });
        }
        let processed = r#"weir_deliveries_processed_total{plugin="test-ack"}"#;
        assert_eq!(weir.metric(processed), 0.0, "{backend:?}");
        set_paused(nodes - 1, "resume");
        for index in 0..nodes {
            paused_on(index, false);
        }
        weir.wait_for_metric(processed, nodes as f64);
    }
}

/// A tenant paused on one node is paused on every node: its deliveries are
/// held wherever they are pulled while another tenant's run, and a resume
/// on another node releases every one of them, and each runs once.
#[test]
fn each_backend_holds_a_paused_tenant_on_every_node_until_it_resumes() {
    const HELD_PER_NODE: u64 = 3;
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-recorder"], recorder::ROUTE);
        let nodes = weir.nodes.len() as u64;
        let paused = weir.node(0).post_json("/v1/tenants/acme/pause", "");
        assert_eq!(
            paused.body,
            json!({"tenant": "acme", "paused": true}),
            "{backend:?}"
        );
        for index in 0..weir.nodes.len() {
            weir.node(index)
                .wait_for("the pause to reach the node", |node| {
                    tenant_paused(node, "acme").then_some(())
                });
            let first = index as u64 * 10;
            let mut events: Vec<Value> = (first..first + HELD_PER_NODE)
                .map(|n| recorder::tenant_event(n, "acme", None))
                .collect();
            events.push(recorder::tenant_event(first + 5, "beta", None));
            weir.post(index, &events);
        }
        let held = HELD_PER_NODE * nodes;
        weir.node(0).wait_for("beta's events to run", |node| {
            let beta = recorder::recorded_in(node, "test-recorder", "beta");
            (beta.seen.len() as u64 == nodes).then_some(())
        });
        weir.node(0).wait_for("acme's deliveries to be held", |_| {
            let lines = (weir.nodes.iter())
                .map(|(node, _)| {
                    node.log_text()
                        .matches("tenant paused: delivery held")
                        .count()
                })
                .sum::<usize>();
            (lines as u64 == held).then_some(())
        });
        let acme = recorder::recorded_in(weir.node(0), "test-recorder", "acme");
        assert!(acme.seen.is_empty(), "{backend:?}: {acme:?}");
        // Held, they are still acme's backlog, on every node.
        for (node, _) in &weir.nodes {
            node.wait_for("acme's held backlog", |node| {
                (tenant_backlog(node, "acme") == held).then_some(())
            });
        }

        let resumed = weir.node(1).post_json("/v1/tenants/acme/resume", "");
        assert_eq!(
            resumed.body,
            json!({"tenant": "acme", "paused": false, "released": held}),
            "{backend:?}"
        );
        for index in 0..weir.nodes.len() {
            weir.node(index)
                .wait_for("the resume to reach the node", |node| {
                    (!tenant_paused(node, "acme")).then_some(())
                });
        }
        let acme = weir.node(0).wait_for("acme's events to run", |node| {
            let acme = recorder::recorded_in(node, "test-recorder", "acme");
            (acme.seen.len() as u64 == held).then_some(acme)
        });
        assert!(
            acme.seen.values().all(|&runs| runs == 1),
            "{backend:?}: {acme:?}"
        );
    }
}

/// `tenant`'s backlog as `GET /v1/tenants` on `node` shows it.
fn tenant_backlog(node: &Weir, tenant: &str) -> u64 {
    let tenants = node.get("/v1/tenants").body;
    (tenants["tenants"].as_array().into_iter().flatten())
        .find(|listed| listed["tenant"] == tenant)
        .and_then(|listed| listed["backlog"].as_u64())
        .unwrap_or(0)
}

/// Whether `GET /v1/tenants` on `node` lists `tenant` as paused.
fn tenant_paused(node: &Weir, tenant: &str) -> bool {
    let tenants = node.get("/v1/tenants").body;
    (tenants["tenants"].as_array().into_iter().flatten())
        .any(|listed| listed["tenant"] == tenant && listed["paused"] == true)
}

/// A node killed mid-processing and started again loses no accepted event
/// and applies no effect twice: the example pipeline counts every booking
/// once per listing. Started once more with nothing left to do, it runs
/// nothing again.
#[test]
fn each_backend_restarted_after_a_crash_loses_nothing_and_applies_each_effect_once() {
    // Short leases: on NATS what the killed node had pulled comes back
    // after its ack wait.
    let config = format!(
        "[plugin_defaults]\ndeadline_ms = 1000\n[dispatch]\nlease_grace_ms = 500\n{}",
        crate::EXAMPLE_ROUTES
    );
    for backend in BACKENDS {
        let plugins = ["booking-normalizer", "price-calculator"];
        let mut deployment = Deployment::start(backend, &plugins, &config);
        let ids = restart::post_bookings(deployment.node(0));
        // Every event was answered 202; now the node dies mid-processing.
        deployment.crash_and_restart(0);
        let entries = crate::settle_bookings(deployment.node(0), &ids);
        let per_listing = (restart::EVENTS / restart::LISTINGS) as u64;
        assert_eq!(entries.len(), restart::LISTINGS, "{backend:?}: {entries:?}");
        for entry in &entries {
            assert_eq!(
                entry["value"],
                json!({"bookings": per_listing, "booked_nights": 3 * per_listing, "revenue_cents": 30000 * per_listing}),
                "{backend:?}: each booking counted exactly once: {entry}"
            );
        }
        let (weir, workspace) = deployment.nodes.remove(0);
        weir.stop();
        let weir = workspace.start();
        assert_eq!(crate::settle_bookings(&weir, &ids), entries, "{backend:?}");
        let processed = r#"weir_deliveries_processed_total{plugin="price-calculator"}"#;
        assert_eq!(weir.metric(processed), 0.0, "{backend:?}");
    }
}

/// `critical` events overtake a `low` backlog, and `low` keeps moving: the
/// lanes' default weights (8:1) choose among what is ready (on NATS each
/// priority has a feed of its own, so the critical events are pulled past
/// the backlog).
#[test]
fn each_backend_runs_critical_events_past_a_low_backlog_which_still_progresses() {
    for backend in BACKENDS {
        let (_weir, low_meanwhile) =
            burst_done_while_few_ran(backend, ("bulk", "low"), ("vip", "critical", 50));
        // About one low dispatch per eight critical ones (6 over 50), plus
        // the low ones running when the critical events came (2 per node).
        // First come, first served, all 2,000 would run first.
        assert!(
            (3..=24).contains(&low_meanwhile),
            "{backend:?}: {low_meanwhile} low events were done while 50 critical ran; expected 3 to 24"
        );
    }
}

/// One tenant's burst does not hold up another tenant's few events: the
/// tenants take turns. On NATS they do among the tenants a node has pulled,
/// from every shard of tenants; `heavy` and `light` are in two shards
/// (`store-nats/src/names.rs` checks it).
#[test]
fn each_backend_runs_a_tenants_few_events_past_anothers_burst() {
    for backend in BACKENDS {
        let (weir, heavy_meanwhile) =
            burst_done_while_few_ran(backend, ("heavy", "normal"), ("light", "normal", 30));
        // One of heavy's per one of light's (30), plus those running or
        // pulled when light's came (2 slots and up to 4 pulled per node),
        // and those finishing alongside light's last ones. 34 to 38 were
        // seen. First come, first served, all 2,000 would run first (1,969
        // did on NATS with every tenant in one shard).
        let bound = 40 + 6 * weir.nodes.len() as u64;
        assert!(
            heavy_meanwhile <= bound,
            "{backend:?}: {heavy_meanwhile} of heavy's events were done while light's 30 ran; the bound is {bound}"
        );
    }
}

/// Posts 2,000 events of `burst` (tenant, priority) for the slow plugin,
/// then the `few` of another (tenant, priority, how many) through the other
/// node, and waits until the few are done: how many of the burst were done
/// meanwhile.
fn burst_done_while_few_ran(
    backend: Backend,
    (burst_tenant, burst_priority): (&str, &str),
    (few_tenant, few_priority, count): (&str, &str, u64),
) -> (Deployment, u64) {
    let weir = Deployment::start(backend, &["test-slow"], fairness::CONFIG);
    fairness::post(weir.node(0), burst_tenant, burst_priority, 2_000);
    let posted_ms = now_ms();
    fairness::post(weir.node(1), few_tenant, few_priority, count);
    let few: Vec<String> = (0..count)
        .map(|n| format!("{few_tenant}-{few_priority}-{n}"))
        .collect();
    let all_done_ms = when_all_done(&weir, few_tenant, &few);
    let burst = format!("{burst_tenant}-{burst_priority}");
    let meanwhile = done_between(&weir, &burst, posted_ms, all_done_ms);
    (weir, meanwhile)
}

/// How many of the slow plugin's events `{prefix}-0`, `{prefix}-1`, ...
/// (of the tenant the prefix starts with) were done between `from_ms` and
/// `until_ms`. A tenant's events of one priority run first in, first out,
/// so they are found from the first on, until a run of ones not done by then.
fn done_between(weir: &Deployment, prefix: &str, from_ms: u64, until_ms: u64) -> u64 {
    let tenant = prefix.split('-').next().unwrap_or(prefix);
    let (mut done, mut not_yet) = (0, 0);
    for n in 0..100_000 {
        let id = format!("{prefix}-{n}");
        match committed_at_ms(weir, n, tenant, &id) {
            Some(done_ms) if done_ms <= until_ms => {
                not_yet = 0;
                done += u64::from(done_ms >= from_ms);
            }
            _ => not_yet += 1,
        }
        if not_yet == 20 {
            break;
        }
    }
    done
}

/// A tenant over its backlog quota is refused on every node, while another
/// tenant is admitted; once its backlog is below the low-water mark, it is
/// admitted again. On NATS each node measures the tenants' backlogs from
/// the cluster's deliveries stream every second.
#[test]
fn each_backend_refuses_a_tenant_over_its_backlog_quota_and_admits_others() {
    for backend in BACKENDS {
        let quota = "[metrics]\ntenant_series = 1\n\
                     [tenants.noisy]\nbacklog_high_water = 10\nbacklog_low_water = 5\n";
        let weir = test_ack_with(backend, quota);
        let nodes = weir.nodes.len();
        let of = |tenant: &str, id: &str| json!({"id": id, "source": "tests", "type": "suite.event", "tenant": tenant, "data": {}});
        // What node `index` answers to `event`, once it sees noisy's
        // backlog at `count`.
        let post_at = |index: usize, count: u64, event: Value| {
            let node = weir.node(index);
            node.wait_for(&format!("noisy's backlog of {count}"), |node| {
                (tenant_backlog(node, "noisy") == count).then_some(())
            });
            node.post_json("/v1/events", &json!([event]).to_string())
        };
        // Through every node, so none runs a delivery before it sees the pause.
        weir.on_every_node("/v1/plugins/test-ack/pause");
        for n in 0..10 {
            weir.post(n, &[of("noisy", &format!("noisy-{n}"))]);
        }
        for index in 0..nodes {
            let over = post_at(index, 10, of("noisy", &format!("over-{index}")));
            let series = weir
                .node(index)
                .metric(r#"weir_tenant_queue_depth{tenant="noisy"}"#);
            assert_eq!(series, 10.0, "{backend:?}: noisy's series");
            assert_eq!(over.status, 429, "{backend:?}: {}", over.text);
            assert_eq!(over.body["error"]["code"], "over_quota", "{backend:?}");
            let quiet = post_at(index, 10, of("quiet", &format!("quiet-{index}")));
            assert_eq!(quiet.status, 202, "{backend:?}: {}", quiet.text);
            let refused = weir.node(index).get(&format!("/v1/events/over-{index}"));
            assert_eq!(
                refused.status, 404,
                "{backend:?}: nothing refused is stored"
            );
        }
        weir.on_every_node("/v1/plugins/test-ack/resume");
        for index in 0..nodes {
            let series = r#"weir_tenant_queue_depth{tenant="noisy"}"#;
            weir.node(index)
                .wait_for("noisy's series back to 0", |node| {
                    (node.metric(series) == 0.0).then_some(())
                });
            let again = post_at(index, 0, of("noisy", &format!("again-{index}")));
            assert_eq!(again.status, 202, "{backend:?}: {}", again.text);
        }
    }
}

/// When the slow plugin committed `id` of `tenant`, asking node `node`, if
/// it has.
fn committed_at_ms(weir: &Deployment, node: usize, tenant: &str, id: &str) -> Option<u64> {
    let shown = weir
        .node(node)
        .get(&format!("/v1/events/{id}?tenant={tenant}"));
    let slow = (shown.status == 200).then(|| delivery(&shown.body, "test-slow"))?;
    (slow["state"] == "done")
        .then(|| slow["result"]["committed_at_ms"].as_u64())
        .flatten()
}

/// Polls until every event of `tenant` in `ids` is done by the slow
/// plugin; when the last of them was committed.
fn when_all_done(weir: &Deployment, tenant: &str, ids: &[String]) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut done = Vec::new();
    loop {
        // They are done about in order: the first not done yet is where
        // the next poll looks.
        while let Some(id) = ids.get(done.len()) {
            match committed_at_ms(weir, done.len(), tenant, id) {
                Some(done_ms) => done.push(done_ms),
                None => break,
            }
        }
        if let Some(&last) = done.iter().max().filter(|_| done.len() == ids.len()) {
            return last;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events were done within a minute",
            done.len(),
            ids.len()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `GET /v1/events/{id}` from any node: the event as stored (with when it
/// was ingested), a delivery
/// done with its result and one dead with its error; an id two tenants
/// share is ambiguous until the tenant is named, and an unknown one is 404.
#[test]
fn each_backend_shows_an_event_with_its_deliveries_from_any_node() {
    for backend in BACKENDS {
        let route = "[[route]]\nname = \"both\"\nmatch = { type = \"suite.*\" }\n\
                     plugins = [\"test-ack\", \"test-always-fail\"]\n";
        let weir = Deployment::start(backend, &["test-ack", "test-always-fail"], route);
        let mut shown = event("shown-1");
        shown["data"] = json!({"room": 12});
        let mut twin = event("shown-1");
        twin["tenant"] = json!("beta");
        let before = rfc3339(now_ms());
        weir.post(0, &[shown, twin]);
        let after = rfc3339(now_ms());
        let dead = r#"weir_deliveries_dead_total{plugin="test-always-fail"}"#;
        weir.wait_for_metric(dead, 2.0);
        let processed = r#"weir_deliveries_processed_total{plugin="test-ack"}"#;
        weir.wait_for_metric(processed, 2.0);

        let ambiguous = weir.node(1).get("/v1/events/shown-1");
        assert_eq!(ambiguous.status, 409, "{backend:?}: {}", ambiguous.text);
        let answer = weir.node(1).get("/v1/events/shown-1?tenant=default");
        assert_eq!(answer.status, 200, "{backend:?}: {}", answer.text);
        let shown = answer.body;
        assert_eq!(shown["id"], "shown-1", "{backend:?}: {shown}");
        assert_eq!(shown["tenant"], "default", "{backend:?}: {shown}");
        assert_eq!(shown["data"], json!({"room": 12}), "{backend:?}: {shown}");
        assert!(shown["sequence"].as_u64().is_some(), "{backend:?}: {shown}");
        let ingested = shown["ingested_at"].as_str().unwrap_or_default();
        assert!(
            (before.as_str()..=after.as_str()).contains(&ingested),
            "{backend:?}: ingested at {ingested}, sent between {before} and {after}"
        );
        let ack = delivery(&shown, "test-ack");
        assert_eq!(ack["state"], "done", "{backend:?}: {shown}");
        assert_eq!(ack["attempts"], 1, "{backend:?}: {shown}");
        assert_eq!(ack["result"]["outcome"], "ack", "{backend:?}: {shown}");
        let failed = delivery(&shown, "test-always-fail");
        assert_eq!(failed["state"], "dead", "{backend:?}: {shown}");
        assert!(failed["error"].is_string(), "{backend:?}: {shown}");

        let unknown = weir.node(0).get("/v1/events/never-sent");
        assert_eq!(unknown.status, 404, "{backend:?}: {}", unknown.text);
    }
}

#[test]
fn each_backend_retries_with_backoff_then_dead_letters() {
    for backend in BACKENDS {
        let limits = "max_attempts = 3\nbackoff_initial_ms = 10\nbackoff_max_ms = 100";
        let weir = Deployment::start(
            backend,
            &["test-always-retry"],
            &route_to("test-always-retry", limits),
        );
        weir.post(0, &[event("retry-1"), event("retry-2")]);
        let dead = r#"weir_deliveries_dead_total{plugin="test-always-retry"}"#;
        weir.wait_for_metric(dead, 2.0);
        let retried = r#"weir_deliveries_retried_total{plugin="test-always-retry"}"#;
        // Three attempts each: two retries, then dead.
        assert_eq!(weir.metric(retried), 4.0, "{backend:?}");
        assert_eq!(weir.metric(dead), 2.0, "{backend:?}");

        // Listed a page at a time, from any node.
        let first = weir.node(1).get("/v1/dead-letters?limit=1").body;
        let cursor = first["next_cursor"].as_str().expect("a next page");
        let second = (weir.node(0))
            .get(&format!("/v1/dead-letters?limit=1&cursor={cursor}"))
            .body;
        assert_eq!(second["next_cursor"], Value::Null, "{backend:?}: {second}");
        let mut ids = Vec::new();
        for letter in [&first, &second].map(|page| &page["dead_letters"][0]) {
            assert_eq!(
                letter["plugin"], "test-always-retry",
                "{backend:?}: {letter}"
            );
            assert_eq!(letter["attempts"], 3, "{backend:?}: {letter}");
            ids.push(letter["id"].as_str().expect("id").to_owned());
        }
        ids.sort();
        assert_eq!(ids, ["retry-1", "retry-2"], "{backend:?}");
        // Not base64; and, on NATS, three bytes: not a stream sequence number.
        let mut bad_cursors = vec!["%21%21"];
        if let Backend::Nats = backend {
            bad_cursors.push("AAAA");
        }
        for cursor in bad_cursors {
            let bad = weir
                .node(0)
                .get(&format!("/v1/dead-letters?cursor={cursor}"));
            assert_eq!(bad.status, 400, "{backend:?} {cursor}: {}", bad.text);
        }
    }
}

#[test]
fn each_backend_dead_letters_a_failed_delivery_at_once() {
    for backend in BACKENDS {
        let weir = Deployment::start(
            backend,
            &["test-always-fail"],
            &route_to("test-always-fail", ""),
        );
        weir.post(0, &[event("fail-1")]);
        let dead = r#"weir_deliveries_dead_total{plugin="test-always-fail"}"#;
        weir.wait_for_metric(dead, 1.0);
        let failed = r#"weir_deliveries_failed_total{plugin="test-always-fail",reason="fail"}"#;
        assert_eq!(weir.metric(failed), 1.0, "{backend:?}");
        let retried = r#"weir_deliveries_retried_total{plugin="test-always-fail"}"#;
        assert_eq!(weir.metric(retried), 0.0, "{backend:?}");

        let listed = weir.node(1).get("/v1/dead-letters").body;
        let letters = listed["dead_letters"].as_array().expect("dead_letters");
        assert_eq!(letters.len(), 1, "{backend:?}: {listed}");
        let letter = &letters[0];
        let shown = ["id", "plugin", "tenant", "type", "attempts"].map(|field| &letter[field]);
        assert_eq!(
            shown,
            [
                &json!("fail-1"),
                &json!("test-always-fail"),
                &json!("default"),
                &json!("suite.event"),
                &json!(1)
            ],
            "{backend:?}: {letter}"
        );
        // Filters: another plugin or tenant has none.
        for filter in ["plugin=test-ack", "tenant=other", "type=other.type"] {
            let page = weir.node(0).get(&format!("/v1/dead-letters?{filter}")).body;
            assert_eq!(
                page["dead_letters"],
                json!([]),
                "{backend:?}: {filter}: {page}"
            );
        }
    }
}

#[test]
fn each_backend_shows_the_latest_dead_letters_on_the_dashboard() {
    for backend in BACKENDS {
        let weir = Deployment::start(
            backend,
            &["test-always-fail"],
            &route_to("test-always-fail", ""),
        );
        // One at a time, so that they die in the order they are sent.
        let dead = r#"weir_deliveries_dead_total{plugin="test-always-fail"}"#;
        let ids: Vec<String> = (0..25).map(|n| format!("fail-{n:02}")).collect();
        for (n, id) in ids.iter().enumerate() {
            weir.post(n, &[event(id)]);
            weir.wait_for_metric(dead, (n + 1) as f64);
        }
        assert_eq!(
            dashboard_dead_letters(weir.node(1)),
            latest_twenty(&ids),
            "{backend:?}"
        );
    }
}

#[test]
fn each_backend_keeps_key_order_through_a_retry_and_applies_effects_once() {
    const KEYS: [&str; 3] = ["A", "B", "C"];
    const TOTAL: u64 = 60;
    // The second event of key B asks for a retry first: it holds up B alone.
    const BLOCKER: u64 = 4;
    for backend in BACKENDS {
        let config = recorder_config("instances = 4\n");
        let weir = Deployment::start(backend, &["test-recorder"], &config);
        let events: Vec<Value> = (0..TOTAL)
            .map(|n| recorder::event(n, Some(KEYS[(n % 3) as usize]), n == BLOCKER))
            .collect();
        for (index, chunk) in events.chunks(6).enumerate() {
            weir.post(index, chunk);
        }
        let recorded = weir.node(0).wait_for("every event to be recorded", |weir| {
            let recorded = recorded_when_available(weir)?;
            let count: usize = recorded.order.values().map(Vec::len).sum();
            (count >= TOTAL as usize).then_some(recorded)
        });
        for (index, key) in KEYS.iter().enumerate() {
            let expected: Vec<u64> = (0..TOTAL).filter(|n| n % 3 == index as u64).collect();
            assert_eq!(recorded.order[*key], expected, "{backend:?}: key {key}");
        }
    }
}

/// The delivery engine is the same on both stores: trapping events run out
/// their attempts and end as dead letters naming the trap, and a good event
/// runs once. The traps open the breaker, whose deferrals spend no attempt
/// (on NATS, a deferral is kept and taken off JetStream's count of
/// hand-outs), so each letter shows exactly its three attempts.
#[test]
fn each_backend_dead_letters_trapping_events_after_their_attempts_and_runs_a_good_one() {
    const TRAPS: u64 = 6;
    for backend in BACKENDS {
        let plugin = quick_breaker_for("test-recorder", "max_attempts = 3\npoison_after = 10\n");
        let config = format!("{plugin}{}", recorder::ROUTE);
        let weir = Deployment::start(backend, &["test-recorder"], &config);
        let traps: Vec<Value> = (0..TRAPS).map(recorder::trap_event).collect();
        weir.post(0, &traps);
        weir.post(1, &[recorder::event(TRAPS, None, false)]);

        let dead = r#"weir_deliveries_dead_total{plugin="test-recorder"}"#;
        weir.wait_for_metric(dead, TRAPS as f64);
        let listed = weir.node(0).get("/v1/dead-letters?limit=100").body;
        let letters = listed["dead_letters"].as_array().expect("dead_letters");
        assert_eq!(letters.len(), TRAPS as usize, "{backend:?}: {listed}");
        for letter in letters {
            let error = letter["error"].as_str().unwrap_or_default();
            assert_eq!(letter["attempts"], 3, "{backend:?}: {letter}");
            assert!(error.contains("last: trap"), "{backend:?}: {letter}");
        }
        let recorded = weir
            .node(0)
            .wait_for("the good event to be recorded", |weir| {
                let recorded = recorded_when_available(weir)?;
                recorded.seen.contains_key(&TRAPS).then_some(recorded)
            });
        assert_eq!(recorded.seen[&TRAPS], 1, "{backend:?}");
        assert_eq!(recorded.seen.len(), 1, "{backend:?}: traps record nothing");
        let tripped =
            weir.metric(r#"weir_breaker_trips_total{plugin="test-recorder",reason="trap"}"#);
        assert!(tripped >= 1.0, "{backend:?}: the breaker opened: {tripped}");
    }
}

/// An event whose attempts trap `poison_after` times in a row is a dead
/// letter at once, with that reason, however many attempts it has left
/// (on NATS the row of faults is kept in the bucket between hand-outs); a
/// good event beside it runs once.
#[test]
fn each_backend_sets_a_poison_event_aside_after_its_faults_in_a_row() {
    for backend in BACKENDS {
        // No breaker in the way: the traps are what is counted.
        let config = recorder_config(
            "max_attempts = 10\npoison_after = 2\nbackoff_initial_ms = 10\nbackoff_max_ms = 20\n\
             breaker_min_calls = 1000\n",
        );
        let weir = Deployment::start(backend, &["test-recorder"], &config);
        let poison: Vec<Value> = (100..103).map(recorder::trap_event).collect();
        weir.post(0, &poison);
        weir.post(1, &[recorder::event(0, None, false)]);
        weir.wait_for_metric(r#"weir_deliveries_dead_total{plugin="test-recorder"}"#, 3.0);
        for n in 100..103 {
            let event = settled_event(weir.node(n), &format!("rec-{n}"));
            let letter = delivery(&event, "test-recorder");
            recorder::assert_set_aside_after_two_traps(letter, &format!("{backend:?}: "));
        }
        let recorded = weir.node(0).wait_for("the good event", |node| {
            let recorded = recorded_when_available(node)?;
            recorded.seen.contains_key(&0).then_some(recorded)
        });
        assert_eq!(recorded.seen[&0], 1, "{backend:?}");
    }
}

/// One event's dead deliveries are replayed or discarded, and every match
/// of a filter replayed, on both stores: a replayed delivery runs again
/// from its first attempt (and, failing again, is a dead letter once more).
#[test]
fn each_backend_replays_and_discards_dead_letters() {
    for backend in BACKENDS {
        let weir = Deployment::start(
            backend,
            &["test-always-fail"],
            &route_to("test-always-fail", ""),
        );
        weir.post(0, &[event("dl-1"), event("dl-2"), event("dl-3")]);
        let dead = r#"weir_deliveries_dead_total{plugin="test-always-fail"}"#;
        weir.wait_for_metric(dead, 3.0);

        let replayed = weir.node(1).post_json("/v1/dead-letters/dl-1/replay", "");
        assert_eq!(replayed.status, 200, "{backend:?}: {}", replayed.text);
        assert_eq!(
            replayed.body["replayed"],
            json!(["test-always-fail"]),
            "{backend:?}"
        );
        weir.wait_for_metric(dead, 4.0);
        let replays = r#"weir_dead_letters_replayed_total{plugin="test-always-fail"}"#;
        assert_eq!(weir.metric(replays), 1.0, "{backend:?}");

        let discarded = weir.node(0).delete("/v1/dead-letters/dl-2");
        assert_eq!(discarded.status, 200, "{backend:?}: {}", discarded.text);
        assert_eq!(
            discarded.body["discarded"],
            json!(["test-always-fail"]),
            "{backend:?}"
        );
        for (method, path) in [
            ("DELETE", "/v1/dead-letters/dl-2"),
            ("POST", "/v1/dead-letters/nothing-here/replay"),
        ] {
            let answer = match method {
                "DELETE" => weir.node(1).delete(path),
                _ => weir.node(1).post_json(path, ""),
            };
            assert_eq!(
                answer.status, 404,
                "{backend:?} {method} {path}: {}",
                answer.text
            );
        }

        // Every match: dl-1, dead again, and dl-3.
        let bulk = weir
            .node(1)
            .post_json("/v1/dead-letters/replay?plugin=test-always-fail", "");
        assert_eq!(bulk.status, 200, "{backend:?}: {}", bulk.text);
        assert_eq!(bulk.body["replayed"], 2, "{backend:?}: {}", bulk.text);
        assert_eq!(bulk.body["more"], false, "{backend:?}: {}", bulk.text);
        weir.wait_for_metric(dead, 6.0);
        assert_eq!(weir.metric(replays), 3.0, "{backend:?}");
        let listed = weir.node(0).get("/v1/dead-letters").body;
        let mut ids: Vec<&str> = (listed["dead_letters"].as_array().expect("dead_letters"))
            .iter()
            .filter_map(|letter| letter["id"].as_str())
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, ["dl-1", "dl-3"], "{backend:?}: {listed}");
    }
}

#[test]
fn each_backend_replays_a_plugin_over_past_events_in_a_new_generation() {
    const TOTAL: u64 = 10;
    for backend in BACKENDS {
        let weir = Deployment::start(backend, &["test-recorder"], recorder::ROUTE);
        // One at a time, alternating nodes: event n is sequence n + 1 of the log.
        let mut halfway = String::new();
        for n in 0..TOTAL {
            if n == TOTAL / 2 {
                // Events 5..=9 are ingested after this time, those before it before.
                std::thread::sleep(Duration::from_millis(5));
                halfway = rfc3339(now_ms());
                std::thread::sleep(Duration::from_millis(5));
            }
            weir.post(n as usize, &[recorder::event(n, None, false)]);
        }
        wait_until_seen(&weir, &[1; TOTAL as usize]);

        // Sequences 4..=10: events 3..=9 run once more, and apply their effects again.
        let progress = replay(&weir, ("since_sequence", json!(4)));
        assert_eq!(
            (&progress["from_sequence"], &progress["to_sequence"]),
            (&json!(4), &json!(10)),
            "{backend:?}"
        );
        assert_eq!(progress["queued"], 7, "{backend:?}: {progress:#}");
        let mut expected: Vec<u64> = (0..TOTAL).map(|n| if n >= 3 { 2 } else { 1 }).collect();
        wait_until_seen(&weir, &expected);
        // A second replay is a generation of its own: it runs event 9 a third time.
        assert_eq!(
            replay(&weir, ("since_sequence", json!(10)))["queued"],
            1,
            "{backend:?}"
        );
        expected[9] = 3;
        wait_until_seen(&weir, &expected);
        // By the time they were ingested: events 5..=9.
        let progress = replay(&weir, ("since", json!(halfway)));
        assert_eq!(progress["queued"], 5, "{backend:?}: {progress:#}");
        for count in &mut expected[TOTAL as usize / 2..] {
            *count += 1;
        }
        wait_until_seen(&weir, &expected);
        let processed = r#"weir_deliveries_processed_total{plugin="test-recorder"}"#;
        weir.wait_for_metric(processed, 23.0);
        assert_eq!(weir.metric(processed), 23.0, "{backend:?}");
        // An event shows its delivery in the latest generation that ran it.
        for (n, generation) in [(0, 0), (3, 1), (9, 3)] {
            let event = weir.node(0).get(&format!("/v1/events/rec-{n}")).body;
            let delivery = delivery(&event, "test-recorder");
            // The first run's generation, 0, is left out.
            let shown = delivery["generation"].as_u64().unwrap_or(0);
            assert_eq!(
                (&delivery["state"], shown),
                (&json!("done"), generation),
                "{backend:?}: rec-{n}: {event}"
            );
        }
    }
}

/// Replays the recorder from `start` (`since_sequence` or `since`, and its
/// value) through the second node; returns the job's progress once it is done.
fn replay(weir: &Deployment, start: (&str, Value)) -> Value {
    let mut request = json!({"plugin": "test-recorder", "rate_per_sec": 1000});
    request[start.0] = start.1;
    let answer = weir.node(1).post_json("/v1/replay", &request.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let status_url = answer.body["status_url"].as_str().expect("status_url");
    let progress = weir.node(1).wait_for("the replay to end", |node| {
        let progress = node.get(status_url).body;
        (progress["status"] != "running").then_some(progress)
    });
    assert_eq!(progress["status"], "done", "{progress:#}");
    progress
}

/// Waits until the recorder has seen event n `counts[n]` times, and no more.
fn wait_until_seen(weir: &Deployment, counts: &[u64]) {
    let seen = weir
        .node(0)
        .wait_for("the recorder to see every event", |node| {
            let seen = recorded_when_available(node)?.seen;
            (seen.len() == counts.len() && seen.values().zip(counts).all(|(a, b)| a >= b))
                .then_some(seen)
        });
    let seen: Vec<u64> = seen.into_values().collect();
    assert_eq!(seen, counts);
}
