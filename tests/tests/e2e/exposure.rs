//! Safe by default: weir with no `[auth]` refuses to listen beyond loopback
//! unless told, a JSON endpoint refuses a body that does not say it is JSON,
//! the admin API answers only a loopback `Host` (DNS rebinding) and refuses a
//! POST without a JSON Content-Type, so a cross-site form cannot call it.

use serde_json::json;

use crate::auth::{call, start_with_tokens};
use crate::support::{Weir, Workspace, run_to_exit};

#[test]
fn a_cross_site_text_plain_post_is_refused_before_anything_runs() {
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    let weir = workspace.start();
    let replay = json!({"plugin": "test-ack", "since_sequence": 1}).to_string();
    let event = json!({"id": "e", "source": "tests", "type": "t"}).to_string();
    for (path, body) in [("/v1/replay", &replay), ("/v1/routes/explain", &event)] {
        for content_type in ["text/plain", ""] {
            let answer = weir.post(path, content_type, body);
            assert_eq!(
                answer.status, 415,
                "{path} {content_type:?}: {}",
                answer.text
            );
            assert_eq!(answer.body["error"]["code"], "unsupported_media_type");
            let message = answer.body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("Content-Type: application/json"),
                "{message}"
            );
        }
    }
    // The same bodies, said to be JSON, are taken.
    let started = weir.post_json("/v1/replay", &replay);
    assert_eq!(started.status, 202, "{}", started.text);
    let explained = weir.post("/v1/routes/explain", "application/cloudevents+json", &event);
    assert_eq!(explained.status, 200, "{}", explained.text);
    weir.stop();
}

#[test]
fn listening_beyond_loopback_without_auth_needs_the_flag() {
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    let mut args = workspace.serve_args();
    let listen = args
        .iter()
        .position(|arg| arg == "127.0.0.1:0")
        .expect("--listen");
    args[listen] = "0.0.0.0:0".to_owned();
    let (code, stderr) = run_to_exit(&args, &[], workspace.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing to listen on 0.0.0.0:0 without [auth]")
            && stderr.contains("--allow-unauthenticated-remote"),
        "{stderr}"
    );

    args.push("--allow-unauthenticated-remote".to_owned());
    let weir = Weir::start_listening(&args, &[], workspace.path());
    assert_eq!(weir.addr.ip().to_string(), "0.0.0.0");
    weir.stop();
}

#[test]
fn without_auth_the_admin_api_answers_only_a_loopback_host() {
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    let weir = workspace.start();
    let port = weir.addr.port();
    for path in ["/v1/plugins", "/", "/metrics", "/v1/dead-letters"] {
        let rebound = weir.request("GET", path, &[("host", "evil.example")], "");
        assert_eq!(rebound.status, 403, "{path}: {}", rebound.text);
        assert_eq!(rebound.body["error"]["code"], "host_not_allowed");
        let message = rebound.body["error"]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("\"evil.example\"") && message.contains("DNS rebinding"),
            "{message}"
        );
    }
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let local = weir.request("GET", "/v1/plugins", &[("host", &host)], "");
        assert_eq!(local.status, 200, "{host}: {}", local.text);
    }
    // Senders and probes reach ingest and the health checks under any name.
    let event = json!({"id": "e", "source": "tests", "type": "t"}).to_string();
    let headers = [
        ("host", "weir.tunnel.example"),
        ("content-type", "application/json"),
    ];
    let posted = weir.request("POST", "/v1/events", &headers, &event);
    assert_eq!(posted.status, 202, "{}", posted.text);
    let probed = weir.request("GET", "/healthz", &headers[..1], "");
    assert_eq!(probed.status, 200, "{}", probed.text);
    weir.stop();
}

#[test]
fn without_auth_a_bodyless_cross_site_post_cannot_pause_a_plugin() {
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    let weir = workspace.start();
    for content_type in ["", "application/x-www-form-urlencoded", "text/plain"] {
        let answer = weir.post("/v1/plugins/test-ack/pause", content_type, "");
        assert_eq!(answer.status, 415, "{content_type:?}: {}", answer.text);
        assert_eq!(answer.body["error"]["code"], "unsupported_media_type");
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(
                "with no [auth], a POST to the admin API must send Content-Type: application/json"
            ),
            "{message}"
        );
    }
    let plugins = weir.get("/v1/plugins");
    assert_ne!(
        plugins.body["plugins"][0]["state"], "paused",
        "{}",
        plugins.text
    );
    let paused = weir.post_json("/v1/plugins/test-ack/pause", "");
    assert_eq!(paused.status, 200, "{}", paused.text);
    let plugins = weir.get("/v1/plugins");
    assert_eq!(
        plugins.body["plugins"][0]["state"], "paused",
        "{}",
        plugins.text
    );
    weir.stop();
}

#[test]
fn with_auth_the_token_decides_and_the_host_rule_is_off() {
    let (_workspace, weir, tokens) = start_with_tokens();
    let bearer = format!("Bearer {}", tokens.admin);
    let headers = [
        ("host", "weir.internal.example"),
        ("authorization", bearer.as_str()),
    ];
    let answer = weir.request("POST", "/v1/plugins/test-always-fail/pause", &headers, "");
    assert_eq!(answer.status, 200, "{}", answer.text);
    let refused = call(&weir, "GET", "/v1/plugins", "weir_not-a-token", "");
    assert_eq!(refused.status, 401, "{}", refused.text);
    weir.stop();
}
