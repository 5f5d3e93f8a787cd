//! `[ingest] max_connections`: with that many connections open, weir accepts
//! no more until one closes; the next client waits, then is served.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{Workspace, has_answered, raw_connection, read_until_closed};

/// Two connections at most. A short header timeout closes the test client's
/// idle pooled connections at once; a long body timeout lets the two held
/// connections sit in the middle of a body.
const CONFIG: &str = r#"
[ingest]
max_connections = 2
header_timeout_ms = 300
body_timeout_ms = 60000

[[route]]
name = "ack"
match = { type = "*" }
plugins = ["test-ack"]
"#;

/// How long the third client is watched for an answer it must not get.
const UNANSWERED_FOR: Duration = Duration::from_secs(2);

#[test]
fn past_max_connections_a_client_waits_until_one_closes() {
    let workspace = Workspace::new(&["test-ack"], CONFIG);
    let weir = workspace.start();
    // Two connections in the middle of a body hold both places.
    let hold = || {
        let mut stream = raw_connection(&weir);
        stream
            .write_all(
                b"POST /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\
                  Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
            )
            .expect("send half a request");
        stream
    };
    let first: TcpStream = hold();
    let second = hold();

    let mut third = raw_connection(&weir);
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .expect("send a request");
    std::thread::sleep(UNANSWERED_FOR);
    assert!(
        !has_answered(&third),
        "a third connection is not served while two are open"
    );

    drop(first);
    let answer = read_until_closed(third);
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "served once a place is free: {answer}"
    );
    weir.wait_for_log("the log to name the limit", |log| {
        log.contains("[ingest] max_connections")
    });
    drop(second);
    weir.stop();
}
