//! What weir does when its storage is damaged or fails, how durable a `202` is
//! in each mode, and how long finished events are kept.

use std::time::Duration;

use serde_json::json;

use crate::recorder::{self, recorded, recorded_in, wait_until_idle};
use crate::support::{Weir, Workspace, run_to_exit, settled_event};

/// Posts events `u{n}` for each of `numbers`, routed nowhere, in one request.
fn post_unrouted(weir: &Weir, numbers: std::ops::Range<usize>) {
    let events: Vec<_> = numbers
        .map(|n| json!({"id": format!("u{n}"), "source": "tests", "type": "unrouted"}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
}

/// Waits until `weir` is idle, checks that the recorder ran the events
/// `numbers` and no other, each once, and stops it.
fn assert_each_ran_once_and_stop(weir: Weir, numbers: &[u64]) {
    wait_until_idle(&weir);
    let seen: Vec<(u64, u64)> = recorded(&weir).seen.into_iter().collect();
    let once: Vec<(u64, u64)> = numbers.iter().map(|&n| (n, 1)).collect();
    assert_eq!(seen, once);
    weir.stop();
}

#[test]
fn a_gap_in_the_middle_of_the_event_log_stops_start_up() {
    let workspace = Workspace::new(&[], "");
    let weir = workspace.start();
    // Three requests one after the other: three groups, of events 1-4, 5-8, 9-12.
    for first in [0, 4, 8] {
        post_unrouted(&weir, first..first + 4);
    }
    weir.stop();

    // Damage: the group of events 5 to 8 disappears from the middle of the log.
    damage_event_log(&workspace, |events| {
        events.remove(5u64.to_be_bytes()).expect("remove group 5")
    });

    let (code, stderr) = run_to_exit(&workspace.serve_args(), &[], workspace.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("the event log is damaged: event 5 is missing (the next one stored is 9)"),
        "{stderr}"
    );
}

#[test]
fn a_group_of_events_damaged_in_place_stops_start_up_naming_it() {
    let workspace = Workspace::new(&[], "");
    let weir = workspace.start();
    post_unrouted(&weir, 0..4);
    weir.stop();

    // Damage: the group's header claims a thousand events (1 << 30 marks a group).
    damage_event_log(&workspace, |events| {
        let header = ((1u32 << 30) | 1000).to_le_bytes();
        events
            .insert(1u64.to_be_bytes(), header)
            .expect("overwrite group 1")
    });

    let (code, stderr) = run_to_exit(&workspace.serve_args(), &[], workspace.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("event group with a header that does not fit it"),
        "{stderr}"
    );
}

/// Opens the stopped weir's queue as fjall alone and applies `damage` to
/// its events keyspace.
fn damage_event_log(workspace: &Workspace, damage: impl FnOnce(&fjall::Keyspace)) {
    let queue_dir = workspace.path().join("data/queue");
    let db = fjall::Database::builder(&queue_dir)
        .open()
        .expect("open the queue");
    let events = db
        .keyspace("events", fjall::KeyspaceCreateOptions::default)
        .expect("events keyspace");
    damage(&events);
    db.persist(fjall::PersistMode::SyncAll).expect("persist");
}

#[test]
fn a_full_disk_gets_507_stores_nothing_and_stops_weir_until_restarted() {
    let workspace = Workspace::new(&["test-recorder"], recorder::ROUTE);
    let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", "group-commit:enospc:2")]);
    let first = weir.post_json(
        "/v1/events",
        &json!([recorder::event(1, None, false)]).to_string(),
    );
    assert_eq!(first.status, 202, "{}", first.text);
    let full = weir.post_json(
        "/v1/events",
        &json!([recorder::event(2, None, false)]).to_string(),
    );
    assert_eq!(full.status, 507, "{}", full.text);
    assert_eq!(full.body["error"]["code"], "insufficient_storage");
    // weir stops by itself, reporting why, so a supervisor restarts it.
    assert_eq!(weir.wait_exit(Duration::from_secs(30)), Some(1));

    // Space freed: a restart serves again; the refused event was never stored.
    let weir = workspace.start();
    assert_eq!(weir.get("/v1/events/rec-2").status, 404);
    let again = weir.post_json(
        "/v1/events",
        &json!([recorder::event(2, None, false)]).to_string(),
    );
    assert_eq!(again.status, 202, "{}", again.text);
    assert_each_ran_once_and_stop(weir, &[1, 2]);
}

/// Nothing runs before it is durable: while an ingest group is written
/// but not yet synced (the sync stalled here), its event can be read but
/// its delivery is not leased, though the lane is scanned meanwhile (an
/// earlier event's retry falls due); once synced, the event is answered
/// 202 and runs, once.
#[test]
fn a_delivery_does_not_run_before_its_event_is_synced() {
    // The retry goes through the store, not waiting in memory.
    let config = format!("[dispatch]\nretry_in_place_max_ms = 0\n{}", recorder::ROUTE);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", "group-sync:stall8000:2")]);
    // Retried 1 s after its first attempt, in the middle of the stall.
    let first = json!([recorder::event(0, None, true)]).to_string();
    let answer = weir.post_json("/v1/events", &first);
    assert_eq!(answer.status, 202, "{}", answer.text);
    let body = json!([recorder::event(1, None, false)]).to_string();
    std::thread::scope(|scope| {
        let posted = scope.spawn(|| weir.post_json("/v1/events", &body));
        weir.wait_for("the event written and not synced", |weir| {
            (weir.get("/v1/events/rec-1").status == 200).then_some(())
        });
        // For 2.5 s of the 8 s the sync stalls, well past the retry, and
        // bounded in count too.
        let watched = std::time::Instant::now();
        for _ in 0..100 {
            if watched.elapsed() > Duration::from_millis(2500) {
                break;
            }
            assert!(!posted.is_finished(), "the sync did not stall");
            let seen = recorded(&weir).seen;
            assert!(
                !seen.contains_key(&1),
                "ran before its event was synced: {seen:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let retried = recorded(&weir).seen;
        assert_eq!(retried.get(&0), Some(&1), "the retry ran meanwhile");
        let posted = posted.join().expect("the request");
        assert_eq!(posted.status, 202, "{}", posted.text);
    });
    assert_each_ran_once_and_stop(weir, &[0, 1]);
}

/// A sync that fails after its group was written answers 503 and stops
/// weir; the client's resend after the restart applies the event once.
#[test]
fn a_failed_sync_answers_503_stops_weir_and_a_resend_applies_once() {
    let workspace = Workspace::new(&["test-recorder"], recorder::ROUTE);
    let weir = workspace.start_with_env(&[("WEIR_FAILPOINT", "group-sync:eio:1")]);
    let body = json!([recorder::event(1, None, false)]).to_string();
    let failed = weir.post_json("/v1/events", &body);
    assert_eq!(failed.status, 503, "{}", failed.text);
    assert_eq!(weir.wait_exit(Duration::from_secs(30)), Some(1));

    let weir = workspace.start();
    let again = weir.post_json("/v1/events", &body);
    assert_eq!(again.status, 202, "{}", again.text);
    assert_each_ran_once_and_stop(weir, &[1]);
}

#[test]
fn buffered_durability_survives_a_crash_of_weir() {
    let config = format!("[queue]\ndurability = \"buffered\"\n{}", recorder::ROUTE);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let events: Vec<_> = (0..50)
        .map(|n| recorder::event(n, Some("k"), false))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    weir.kill();

    let weir = workspace.start();
    wait_until_idle(&weir);
    assert_eq!(recorded(&weir).order["k"], (0..50).collect::<Vec<u64>>());
    weir.stop();
}

#[test]
fn finished_events_are_removed_after_the_retention_and_pending_ones_kept() {
    let config = r#"
[queue]
retention_ms = 1000
dedup_window_ms = 1000

[plugin_limits]
max_attempts = 1000

[plugins.test-always-retry]
max_attempts = 1000
backoff_initial_ms = 60000

[[route]]
name = "record"
match = { type = "recorded" }
plugins = ["test-recorder"]

[[route]]
name = "stuck"
match = { type = "stuck" }
plugins = ["test-always-retry"]
"#;
    let workspace = Workspace::new(&["test-recorder", "test-always-retry"], config);
    let weir = workspace.start();
    let events = json!([recorder::event(1, None, false), {"id": "stuck", "source": "tests", "type": "stuck"}]);
    assert_eq!(
        weir.post_json("/v1/events", &events.to_string()).status,
        202
    );
    wait_until_idle(&weir);
    assert_eq!(weir.get("/v1/events/rec-1").status, 200);

    weir.wait_for("the finished event to expire", |weir| {
        (weir.get("/v1/events/rec-1").status == 404).then_some(())
    });
    // Still retrying: kept, however old.
    assert_eq!(weir.get("/v1/events/stuck").status, 200);
    // Past the dedup window its id is new again.
    let first = r#"[{"id": "rec-1", "source": "tests", "type": "recorded", "data": {"n": 1}}]"#;
    let resent = weir.post_json("/v1/events", first);
    assert_eq!(resent.body["duplicates"], json!([]), "{}", resent.text);
    weir.stop();
}

#[test]
fn an_expired_event_still_pending_does_not_keep_later_ones_and_goes_once_finished() {
    let config = format!(
        "[queue]\nretention_ms = 1000\ndedup_window_ms = 1000\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    weir.post_json("/v1/tenants/acme/pause", "");
    // The held event is the oldest in the log; two later ones finish.
    for event in [
        recorder::tenant_event(1, "acme", None),
        recorder::tenant_event(2, "beta", None),
        recorder::tenant_event(3, "beta", None),
    ] {
        let answer = weir.post_json("/v1/events", &json!([event]).to_string());
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    for id in ["rec-2", "rec-3"] {
        settled_event(&weir, id);
    }
    for id in ["rec-2", "rec-3"] {
        weir.wait_for(
            &format!("{id}, finished, to expire behind a held event"),
            |weir| (weir.get(&format!("/v1/events/{id}")).status == 404).then_some(()),
        );
    }
    let held = weir.get("/v1/events/rec-1");
    assert_eq!(held.status, 200, "{}", held.text);
    assert_eq!(held.body["deliveries"][0]["state"], "held", "{}", held.text);
    let kept = "weir_events_kept_past_retention";
    weir.wait_for("the kept event to be counted", |weir| {
        (weir.metric(kept) == 1.0).then_some(())
    });

    // Kept past the retention, it still runs once resumed, then goes too.
    weir.post_json("/v1/tenants/acme/resume", "");
    weir.wait_for("the kept event to run and then expire", |weir| {
        (weir.get("/v1/events/rec-1").status == 404).then_some(())
    });
    let acme = recorded_in(&weir, "test-recorder", "acme");
    assert_eq!(acme.seen.get(&1), Some(&1), "it ran once");
    weir.wait_for("no event to be counted as kept", |weir| {
        (weir.metric(kept) == 0.0).then_some(())
    });
    weir.stop();
}

/// The first request `tests/fixtures/make-data-v1.sh` sent, byte for byte.
const DATA_V1_REQUEST: &str = r#"[
  {"id": "rec-1", "source": "tests", "type": "recorded", "data": {"n": 1}},
  {"id": "rec-2", "source": "tests", "type": "recorded", "tenant": "acme", "data": {"n": 2}},
  {"id": "fail-1", "source": "tests", "type": "fails", "data": {}}
]"#;

#[test]
fn a_data_directory_of_the_first_layout_opens_with_everything_in_it() {
    let workspace = Workspace::new(
        &["test-recorder", "test-always-fail"],
        include_str!("../../fixtures/data-v1.toml"),
    );
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/data-v1.tar.gz");
    let unpacked = std::process::Command::new("tar")
        .args(["-xzf", fixture, "-C"])
        .arg(workspace.path())
        .status()
        .expect("run tar");
    assert!(unpacked.success(), "tar -xzf {fixture}: {unpacked}");
    let weir = workspace.start();

    let state = |id: &str| {
        let event = weir.get(&format!("/v1/events/{id}"));
        assert_eq!(event.status, 200, "{id}: {}", event.text);
        event.body["deliveries"][0]["state"].clone()
    };
    assert_eq!(state("rec-1"), "done");
    assert_eq!(state("fail-1"), "dead");
    assert_eq!(state("rec-2"), "held");
    let letters = weir.get("/v1/dead-letters?plugin=test-always-fail");
    assert_eq!(
        letters.body["dead_letters"][0]["id"], "fail-1",
        "{}",
        letters.text
    );

    // Its identities and its request's key are still known.
    let first = r#"[{"id": "rec-1", "source": "tests", "type": "recorded", "data": {"n": 1}}]"#;
    let resent = weir.post_json("/v1/events", first);
    assert_eq!(
        resent.body["duplicates"],
        json!(["rec-1"]),
        "{}",
        resent.text
    );
    let headers = [
        ("content-type", "application/json"),
        ("idempotency-key", "first-request"),
    ];
    let repeated = weir.post_with("/v1/events", &headers, DATA_V1_REQUEST);
    assert_eq!(
        repeated.replayed.as_deref(),
        Some("true"),
        "{}",
        repeated.text
    );

    // Its pause holds; resumed, the held delivery runs once, and new events
    // are numbered after the old ones.
    weir.post_json("/v1/tenants/acme/resume", "");
    settled_event(&weir, "rec-2");
    let fresh = json!([recorder::event(3, None, false)]).to_string();
    assert_eq!(weir.post_json("/v1/events", &fresh).status, 202);
    settled_event(&weir, "rec-3");
    let acme = recorded_in(&weir, "test-recorder", "acme");
    assert_eq!(acme.seen.get(&2), Some(&1), "the held delivery ran once");
    let default = recorded(&weir);
    assert_eq!(
        (default.seen.get(&1), default.seen.get(&3)),
        (Some(&1), Some(&1)),
        "the state written before, and the new event's"
    );
    weir.stop();
}
