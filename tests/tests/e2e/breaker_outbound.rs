//! A failed outbound call is a fault, not the handler's verdict: a downstream
//! that refuses every connection opens the breaker of the calling route with
//! reason `outbound`, while a plugin on another route runs on.

use std::net::TcpListener;

use serde_json::{Value, json};

use crate::breaker::{open_breakers, quick_breaker_for, wait_until_open};
use crate::capabilities::fetch;
use crate::support::{Workspace, delivery, settled_event};

/// A loopback address where nothing listens: a port the system handed out,
/// released at once.
fn refusing_address() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").to_string()
}

#[test]
fn refused_outbound_calls_open_the_callers_breaker_and_the_canary_runs_on() {
    let authority = refusing_address();
    let config = format!(
        r#"{}
[plugins.test-fetch.capabilities]
http = ["{authority}"]

[[route]]
name = "downstream"
match = {{ type = "fetch.downstream" }}
plugins = ["test-fetch"]

[[route]]
name = "canary"
match = {{ type = "canary" }}
plugins = ["test-ack"]
"#,
        quick_breaker_for("test-fetch", "max_attempts = 1\n")
    );
    let workspace = Workspace::new(&["test-fetch", "test-ack"], &config);
    let weir = workspace.start();
    let calls: Vec<Value> = (0..6)
        .map(|n| fetch(&format!("call-{n}"), "fetch.downstream", &authority))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(calls).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let breaker = wait_until_open(&weir, "downstream", "default");
    assert_eq!(breaker["reason"], "outbound", "{breaker}");
    assert!(breaker["rate"].as_f64() >= Some(0.5), "{breaker}");
    weir.wait_for("the trip to be counted", |weir| {
        (weir.metric(r#"weir_breaker_trips_total{plugin="test-fetch",reason="outbound"}"#) >= 1.0)
            .then_some(())
    });
    // The handler answered `fail` with the refusal; the host counted the
    // refused connection itself.
    let refused = settled_event(&weir, "call-0");
    let refused = delivery(&refused, "test-fetch");
    assert_eq!(refused["state"], "dead", "{refused}");
    let error = refused["history"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("ConnectionRefused"), "{refused}");

    // The canary's route has a breaker of its own, and it stays closed.
    let canaries: Vec<Value> = (0..20)
        .map(|n| json!({"id": format!("canary-{n}"), "source": "tests", "type": "canary"}))
        .collect();
    let answer = weir.post_json("/v1/events", &json!(canaries).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    for n in 0..20 {
        let event = settled_event(&weir, &format!("canary-{n}"));
        assert_eq!(delivery(&event, "test-ack")["state"], "done", "{event}");
    }
    let breakers = open_breakers(&weir);
    assert!(
        breakers
            .iter()
            .all(|breaker| breaker["route"] == "downstream"),
        "{breakers:?}"
    );
    assert_eq!(
        weir.metric(r#"weir_breaker_trips_total{plugin="test-ack",reason="outbound"}"#),
        0.0
    );
    weir.stop();
}
