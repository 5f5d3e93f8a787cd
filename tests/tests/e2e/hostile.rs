//! Hostile plugins are contained: each attack fails only its own delivery,
//! with a typed reason in the attempt history and in metrics, while weir stays
//! up and a canary plugin's deliveries keep flowing. `table-bomb`,
//! `memory-multiplier` and `memory-hoarder` are hand-written guests of the
//! table limit, the memory limit of an instance with several memories, and the
//! memories one component may take from the pool.

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::reload::rejection_reason;
use crate::support::{Workspace, delivery, settled_event};

/// Each attack of the `hostile` fixture and the reason weir must record.
const ATTACKS: [(&str, &str); 9] = [
    ("spin", "out_of_fuel"),
    ("hang", "deadline"),
    ("memory", "memory_limit"),
    ("recurse", "stack_overflow"),
    ("panic", "trap"),
    ("huge", "host_limit"),
    ("flood", "host_limit"),
    ("peek", "host_limit"),
    ("escape", "fail"),
];

#[test]
fn every_attack_fails_only_its_own_delivery_with_a_typed_reason() {
    let config = format!(
        r#"
[plugins.hostile]
fuel = 50000000
memory_bytes = 16777216
deadline_ms = 1000
max_attempts = 1
# The attacks fail on purpose: the breaker must not stop the others.
breaker_failure_rate = 1.0
breaker_min_calls = 100

[[route]]
name = "attacks"
match = {{ type = "hostile.*" }}
plugins = ["hostile"]
{}"#,
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["hostile", "test-recorder"], &config);
    let weir = workspace.start();
    let mut events: Vec<Value> = ATTACKS
        .iter()
        .map(|(attack, _)| json!({"id": format!("attack-{attack}"), "source": "tests", "type": format!("hostile.{attack}")}))
        .collect();
    events.extend((0..20).map(|n| recorder::event(n, None, false)));
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    for (attack, reason) in ATTACKS {
        let event = settled_event(&weir, &format!("attack-{attack}"));
        let attacked = delivery(&event, "hostile");
        assert_eq!(attacked["state"], "dead", "{attack}: {attacked}");
        assert_eq!(
            attacked["history"][0]["outcome"], reason,
            "{attack}: {attacked}"
        );
    }
    let peek = settled_event(&weir, "attack-peek");
    let error = delivery(&peek, "hostile")["history"][0]["error"].clone();
    assert!(
        error
            .as_str()
            .is_some_and(|e| e.contains("exceed 1000 keys")),
        "the refusal names the limit: {error}"
    );
    wait_until_idle(&weir);
    let seen = recorded(&weir).seen;
    assert_eq!(seen.len(), 20, "the canary's deliveries all ran: {seen:?}");
    for reason in [
        "out_of_fuel",
        "deadline",
        "memory_limit",
        "stack_overflow",
        "trap",
    ] {
        let sample =
            format!(r#"weir_deliveries_failed_total{{plugin="hostile",reason="{reason}"}}"#);
        assert_eq!(weir.metric(&sample), 1.0, "{sample}");
    }
    assert_eq!(
        weir.metric(r#"weir_deliveries_failed_total{plugin="hostile",reason="host_limit"}"#),
        3.0
    );
    // The same counts, per plugin, where operators look first.
    let plugins = weir.get("/v1/plugins").body["plugins"].clone();
    let counts_of = |name: &str| {
        plugins
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name))
            .map(|plugin| plugin["deliveries"].clone())
            .unwrap_or_else(|| panic!("no plugin {name} in {plugins}"))
    };
    let hostile = counts_of("hostile");
    assert_eq!(hostile["failed"]["host_limit"], 3, "{hostile}");
    assert_eq!(hostile["failed"]["out_of_fuel"], 1, "{hostile}");
    assert_eq!(hostile["processed"], 0, "{hostile}");
    assert_eq!(hostile["dead"], ATTACKS.len(), "{hostile}");
    assert_eq!(counts_of("test-recorder")["processed"], 20);
    assert_eq!(weir.get("/healthz").status, 200, "weir is still up");
    weir.stop();
}

/// Text from a plugin cannot forge a log line: in the plain-text log its
/// newline and terminal escape are written escaped, and a 1 MiB `fail` reason
/// is cut to 4 KiB where it is kept.
#[test]
fn a_plugins_forged_log_line_stays_escaped_and_its_long_reason_is_cut() {
    let config = r#"
[plugins.hostile]
max_attempts = 1

[[route]]
name = "attacks"
match = { type = "hostile.*" }
plugins = ["hostile"]
"#;
    let workspace = Workspace::new(&["hostile"], config);
    let weir = workspace.start_with_env(&[("WEIR_LOG_FORMAT", "pretty")]);
    let event = json!({"id": "forge-1", "source": "tests", "type": "hostile.forge"});
    let answer = weir.post_json("/v1/events", &event.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let settled = settled_event(&weir, "forge-1");
    let forged = delivery(&settled, "hostile");
    assert_eq!(forged["state"], "dead", "{settled}");
    let reason = forged["history"][0]["error"].as_str().unwrap_or_default();
    assert!(reason.starts_with("ok\n2026-01-01"), "{reason:.200}");
    assert!(
        reason.len() <= 4096 + '…'.len_utf8() && reason.ends_with('…'),
        "the reason is cut to 4 KiB: {} bytes",
        reason.len()
    );
    let log = weir.wait_for_log("the plugin's log line and its reason", |log| {
        log.matches(r"forged by hostile\u{1b}[2J").count() >= 2
    });
    assert!(!log.contains('\u{1b}'), "no raw escape reaches the log");
    assert!(
        !log.lines().any(|line| line.starts_with("2026-01-01")),
        "no forged line starts a record:\n{log}"
    );
    weir.stop();
}

/// The table limit, obeyed and violated by a real guest: `table-bomb` grows its
/// function table by 1,000 elements per byte of the event's data.
#[test]
fn a_table_grows_within_its_limit_and_a_table_bomb_fails_alone() {
    let config = format!(
        r#"
[plugins.table-bomb]
max_attempts = 1

[[route]]
name = "tables"
match = {{ type = "table" }}
plugins = ["table-bomb"]
{}"#,
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["table-bomb", "test-recorder"], &config);
    let weir = workspace.start();
    let table =
        |id: &str, data: Value| json!({"id": id, "source": "tests", "type": "table", "data": data});
    let events = json!([
        // "1": one byte, 1,000 elements: within the limit.
        table("modest", json!(1)),
        // 50 bytes, 50,000 elements: past the pool's default of 20,000, within weir's bound.
        table("large", json!("x".repeat(48))),
        // 200 bytes, 200,000 elements: past it.
        table("bomb", json!("x".repeat(198))),
        recorder::event(1, None, false),
    ]);
    let answer = weir.post_json("/v1/events", &events.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    for within in ["modest", "large"] {
        let event = settled_event(&weir, within);
        assert_eq!(delivery(&event, "table-bomb")["state"], "done", "{event}");
    }
    let bomb = settled_event(&weir, "bomb");
    let bombed = delivery(&bomb, "table-bomb");
    assert_eq!(bombed["state"], "dead", "{bomb}");
    assert_eq!(bombed["history"][0]["outcome"], "memory_limit", "{bomb}");
    wait_until_idle(&weir);
    assert_eq!(recorded(&weir).seen.len(), 1, "the canary ran");
    assert_eq!(weir.get("/healthz").status, 200, "weir is still up");
    weir.stop();
}

/// `memory_bytes` is one budget for all of an instance's memories, obeyed and
/// violated by a real guest: `memory-multiplier` grows each of its two
/// memories by a page per byte of the event's data. A component defining more
/// memories than one instance slot's share of the pool is refused at load.
#[test]
fn an_instances_memories_share_its_limit_and_a_memory_hoarder_is_refused() {
    let config = format!(
        r#"
[plugins.memory-multiplier]
max_attempts = 1
# 64 pages of 64 KiB.
memory_bytes = 4194304

[[route]]
name = "memories"
match = {{ type = "memory" }}
plugins = ["memory-multiplier"]
{}"#,
        recorder::ROUTE
    );
    let workspace = Workspace::new(
        &["memory-multiplier", "memory-hoarder", "test-recorder"],
        &config,
    );
    let weir = workspace.start();
    let memory = |id: &str, data: Value| json!({"id": id, "source": "tests", "type": "memory", "data": data});
    let events = json!([
        // 20 bytes of JSON: each memory grows to 21 pages, 42 together.
        memory("within", json!("x".repeat(18))),
        // 40 bytes: 41 pages each, under the limit alone, 82 together over it.
        memory("multiplied", json!("x".repeat(38))),
        recorder::event(1, None, false),
    ]);
    let answer = weir.post_json("/v1/events", &events.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let within = settled_event(&weir, "within");
    assert_eq!(
        delivery(&within, "memory-multiplier")["state"],
        "done",
        "{within}"
    );
    let multiplied = settled_event(&weir, "multiplied");
    let refused = delivery(&multiplied, "memory-multiplier");
    assert_eq!(refused["state"], "dead", "{multiplied}");
    assert_eq!(
        refused["history"][0]["outcome"], "memory_limit",
        "{multiplied}"
    );

    let reason = rejection_reason(&weir, "memory-hoarder");
    assert!(
        reason.contains("3 Wasm linear memories") && reason.contains("maximum of 2"),
        "{reason}"
    );
    wait_until_idle(&weir);
    assert_eq!(recorded(&weir).seen.len(), 1, "the canary ran");
    weir.stop();
}
