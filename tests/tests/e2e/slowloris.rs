//! Slow clients: a connection that never finishes its headers is closed after
//! `[ingest] header_timeout_ms`, one that trickles its body (to ingest,
//! explain or replay) gets `408` after `body_timeout_ms` with nothing done, and weir keeps serving everyone else
//! meanwhile; bodies being received together hold at most
//! `max_body_bytes_in_flight` bytes.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::support::{Weir, Workspace, has_answered, raw_connection, read_until_closed};

const CONFIG: &str = r#"
[ingest]
header_timeout_ms = 500
body_timeout_ms = 500

[[route]]
name = "ack"
match = { type = "*" }
plugins = ["test-ack"]
"#;

/// One request on its own connection. The shared client's pooled connections
/// would be closed by the short header timeout between requests.
fn send(weir: &Weir, method: &str, path: &str, body: &str) -> String {
    let mut stream = raw_connection(weir);
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .expect("send the request");
    read_until_closed(stream)
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed() {
    let workspace = Workspace::new(&["test-ack"], CONFIG);
    let weir = workspace.start();

    let silent = raw_connection(&weir);
    let mut half = raw_connection(&weir);
    half.write_all(b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: app")
        .expect("send half the headers");
    // Others are served while both hang.
    let event = json!({"id": "meanwhile", "source": "tests", "type": "t"}).to_string();
    let accepted = send(&weir, "POST", "/v1/events", &event);
    assert!(accepted.starts_with("HTTP/1.1 202"), "{accepted}");

    read_until_closed(silent);
    let answer = read_until_closed(half);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "unexpected answer: {answer}"
    );
    let health = send(&weir, "GET", "/healthz", "");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
}

/// Sends `body`'s first bytes to `path`, then nothing more; returns the answer.
fn trickle(weir: &Weir, path: &str, body: &str) -> String {
    let mut stream = raw_connection(weir);
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send the headers");
    // A few bytes, then a pause past the deadline: the rest never comes in time.
    stream
        .write_all(&body.as_bytes()[..5])
        .expect("send a little");
    read_until_closed(stream)
}

#[test]
fn a_trickled_body_gets_408_and_nothing_is_stored() {
    let workspace = Workspace::new(&["test-ack"], CONFIG);
    let weir = workspace.start();
    let event = json!({"id": "trickled", "source": "tests", "type": "t"}).to_string();

    let answer = trickle(&weir, "/v1/events", &event);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    assert!(answer.contains("body_timeout_ms"), "{answer}");

    let stored = send(&weir, "GET", "/v1/events/trickled", "");
    assert!(stored.starts_with("HTTP/1.1 404"), "{stored}");
    let metrics = send(&weir, "GET", "/metrics", "");
    assert!(
        metrics.contains("weir_ingest_rejected_total{reason=\"request_timeout\"} 1\n"),
        "{metrics}"
    );
    // The same event, sent at once, is taken.
    let accepted = send(&weir, "POST", "/v1/events", &event);
    assert!(accepted.starts_with("HTTP/1.1 202"), "{accepted}");

    // The other endpoints that take a body keep the same deadline.
    let replay = json!({"plugin": "test-ack", "since_sequence": 1}).to_string();
    for (path, body) in [
        ("/v1/routes/explain", event.as_str()),
        ("/v1/replay", &replay),
    ] {
        let answer = trickle(&weir, path, body);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
    }
}

#[test]
fn a_request_that_never_finishes_does_not_hold_up_the_stop() {
    // A body deadline far past the test: the request stays unfinished.
    let config = format!("[dispatch]\nshutdown_grace_ms = 500\n{CONFIG}")
        .replace("body_timeout_ms = 500", "body_timeout_ms = 600000");
    let workspace = Workspace::new(&["test-ack"], &config);
    let weir = workspace.start();
    let mut stream = raw_connection(&weir);
    stream
        .write_all(
            b"POST /v1/routes/explain HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\"",
        )
        .expect("send part of a request");
    // Time for weir to read the headers and start the handler, which then
    // waits for the rest of the body.
    std::thread::sleep(Duration::from_millis(300));
    // `stop` asserts a clean exit within 30 s.
    weir.stop();
    drop(stream);
}

/// Bodies being received share `[ingest] max_body_bytes_in_flight`: while one
/// slow body holds most of it, a body that would pass it gets 503 with
/// Retry-After, and once the slow one is in, the next is read again.
#[test]
fn slow_bodies_together_hold_no_more_than_the_in_flight_budget() {
    const BUDGET_CONFIG: &str = r#"
[ingest]
max_body_bytes = 1000
max_body_bytes_in_flight = 1500

[[route]]
name = "ack"
match = { type = "*" }
plugins = ["test-ack"]
"#;
    let workspace = Workspace::new(&["test-ack"], BUDGET_CONFIG);
    let weir = workspace.start();
    let event =
        json!({"id": "slow", "source": "tests", "type": "t", "data": "x".repeat(900)}).to_string();
    assert!(event.len() < 1000, "the slow body fits max_body_bytes");
    let (first, rest) = event.split_at(event.len() - 10);
    // 700 bytes that are not an event: 400 while the budget has room, 503
    // once the slow body's bytes are held. The two race for the budget:
    // if the 700 are held when the slow body's bytes are read, the slow
    // one is refused at once (seen under load), and is sent again.
    let other = "y".repeat(700);
    let held_slow_body = || {
        let mut slow = raw_connection(&weir);
        write!(
            slow,
            "POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{first}",
            event.len()
        )
        .expect("send all but the end of the body");
        // Bounded: weir reads them at once.
        for _ in 0..50 {
            if has_answered(&slow) {
                return None;
            }
            let answer = weir.post("/v1/events", "application/json", &other);
            if answer.status == 503 {
                return Some((slow, answer));
            }
            assert_eq!(answer.status, 400, "{}", answer.text);
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    };
    let (mut slow, refused) = (0..5)
        .find_map(|_| held_slow_body())
        .expect("a body past the budget is refused while the slow one is held");
    assert_eq!(
        refused.body["error"]["code"], "overloaded",
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains("[ingest] max_body_bytes_in_flight"),
        "{}",
        refused.text
    );
    assert_eq!(refused.retry_after.as_deref(), Some("1"));

    slow.write_all(rest.as_bytes())
        .expect("send the end of the body");
    let answer = read_until_closed(slow);
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    let after = weir.post("/v1/events", "application/json", &other);
    assert_eq!(
        after.status, 400,
        "the budget is free again: {}",
        after.text
    );
    weir.stop();
}
