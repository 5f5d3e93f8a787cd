//! Safe by default: weir with no `[auth]` refuses to listen beyond loopback
//! unless told, and a JSON endpoint refuses a body that does not say it is
//! JSON, so a cross-site `text/plain` form cannot call the admin API.

use serde_json::json;

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
