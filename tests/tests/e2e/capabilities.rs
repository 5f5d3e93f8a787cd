//! Capabilities: a plugin reaches the network only where weir.toml grants
//! it (its own manifest may only ask), and each request it sends carries the
//! delivery's idempotency key.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::{Workspace, delivery, settled_event};

/// The longest the downstream server runs.
const SERVE_AT_MOST: Duration = Duration::from_secs(120);

/// A downstream HTTP server on loopback that answers 204 and keeps the head of
/// every request it gets.
pub struct Downstream {
    /// Where it listens.
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Downstream {
    /// Starts it on a free loopback port.
    pub fn start() -> Downstream {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let addr = listener.local_addr().expect("address");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (heads, stop) = (heads.clone(), stop.clone());
            std::thread::spawn(move || serve(&listener, &heads, &stop))
        };
        Downstream {
            addr,
            heads,
            stop,
            thread: Some(thread),
        }
    }

    /// The heads of the requests it got so far.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(listener: &TcpListener, heads: &Mutex<Vec<String>>, stop: &AtomicBool) {
    let started = Instant::now();
    while !stop.load(Ordering::Relaxed) && started.elapsed() < SERVE_AT_MOST {
        let Ok((mut stream, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let mut head = Vec::new();
        let mut chunk = [0u8; 4096];
        // Up to the blank line that ends the head, at most 64 KiB.
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 << 10 {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&chunk[..n]),
            }
        }
        heads
            .lock()
            .expect("heads")
            .push(String::from_utf8_lossy(&head).into_owned());
        if head.starts_with(b"GET /big/") {
            send_big(&mut stream);
        } else {
            let _ = stream.write_all(
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    }
}

/// Size of the body served for `/big/...`: more than one delivery may receive.
pub const BIG_BODY_BYTES: usize = 48 << 20;

/// Answers 200 with a [`BIG_BODY_BYTES`] body, until the reader hangs up.
fn send_big(stream: &mut std::net::TcpStream) {
    let head =
        format!("HTTP/1.1 200 OK\r\ncontent-length: {BIG_BODY_BYTES}\r\nconnection: close\r\n\r\n");
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = [b'z'; 64 << 10];
    for _ in 0..BIG_BODY_BYTES / chunk.len() {
        if stream.write_all(&chunk).is_err() {
            return;
        }
    }
}

/// A `test-fetch` event asking for `http://AUTHORITY/hook/ID`.
pub fn fetch(id: &str, kind: &str, authority: &str) -> serde_json::Value {
    json!({"id": id, "source": "tests", "type": kind,
           "data": {"authority": authority, "path": format!("/hook/{id}")}})
}

/// The error of the first attempt of `plugin`'s delivery of event `id`,
/// once that delivery is dead.
pub fn refusal(weir: &crate::support::Weir, id: &str, plugin: &str) -> String {
    let event = settled_event(weir, id);
    let refused = delivery(&event, plugin);
    assert_eq!(refused["state"], "dead", "{id}: {event}");
    refused["history"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_plugin_reaches_only_hosts_weir_toml_grants_and_sends_the_idempotency_key() {
    let downstream = Downstream::start();
    let port = downstream.addr.port();
    // The attack of issue 29: a manifest that asks for weir's own loopback
    // port in every spelling. weir.toml grants `asker` one unrelated host.
    let config = format!(
        r#"
[plugins.granted.capabilities]
http = ["127.0.0.1:{port}"]
[plugins.asker.capabilities]
http = ["api.example.invalid"]

[[route]]
name = "granted"
match = {{ type = "fetch.granted" }}
plugins = ["granted"]

[[route]]
name = "asker"
match = {{ type = "fetch.asker" }}
plugins = ["asker"]
"#
    );
    let workspace = Workspace::with_named_plugins(
        &[("test-fetch", "granted"), ("test-fetch", "asker")],
        &config,
    );
    let plugins = workspace.path().join("plugins");
    std::fs::write(plugins.join("granted.toml"), "max_attempts = 1\n").expect("manifest");
    let asked = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        format!("2130706433:{port}"),
    ];
    let manifest = format!(
        "max_attempts = 1\n[capabilities]\nhttp = [{}]\n",
        asked
            .iter()
            .map(|a| format!("{a:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    std::fs::write(plugins.join("asker.toml"), manifest).expect("manifest");
    let weir = workspace.start();

    let mut events = vec![
        fetch("reached", "fetch.granted", &format!("127.0.0.1:{port}")),
        // The same host on a port it was not granted.
        fetch(
            "other-port",
            "fetch.granted",
            &format!("127.0.0.1:{}", port.wrapping_add(1)),
        ),
    ];
    for (n, authority) in asked.iter().enumerate() {
        events.push(fetch(&format!("asked-{n}"), "fetch.asker", authority));
    }
    let answer = weir.post_json("/v1/events", &json!(events).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let reached = settled_event(&weir, "reached");
    assert_eq!(delivery(&reached, "granted")["state"], "done", "{reached}");
    let error = refusal(&weir, "other-port", "granted");
    assert!(error.contains("HttpRequestDenied"), "other-port: {error}");
    for (n, authority) in asked.iter().enumerate() {
        let error = refusal(&weir, &format!("asked-{n}"), "asker");
        assert!(error.contains("HttpRequestDenied"), "{authority}: {error}");
    }

    // The operator sees what was asked and not granted, with the key to grant it.
    let listed = weir.get("/v1/plugins");
    let plugin = |name: &str| {
        listed.body["plugins"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{name} in {}", listed.text))
    };
    assert_eq!(plugin("asker")["http"], json!(["api.example.invalid"]));
    assert_eq!(plugin("asker")["requested_http"], json!(asked));
    assert_eq!(
        plugin("granted")["http"],
        json!([format!("127.0.0.1:{port}")])
    );
    assert_eq!(plugin("granted")["requested_http"], json!([]));
    weir.wait_for_log("the ungranted request to be logged at load", |log| {
        log.contains("plugin asker requests outbound HTTP to")
            && log.contains("[plugins.asker.capabilities] http = [")
    });

    let heads = downstream.heads();
    assert_eq!(
        heads.len(),
        1,
        "only the granted request arrived: {heads:?}"
    );
    let head = heads[0].to_ascii_lowercase();
    assert!(head.starts_with("get /hook/reached "), "{head}");
    // The key is the plugin and the event's identity (tenant, source, id) hashed.
    let identity = Sha256::digest(b"default\0tests\0reached");
    let key = format!("granted/{}", hex::encode(&identity[..16]));
    assert!(
        head.contains(&format!("\r\nidempotency-key: {key}\r\n")),
        "the delivery's key is sent: {head}"
    );
    weir.stop();
}
