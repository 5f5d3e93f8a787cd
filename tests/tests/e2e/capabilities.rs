//! Capabilities: a plugin reaches the network only where its manifest grants
//! it, and each request it sends carries the delivery's idempotency key.

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
struct Downstream {
    addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Downstream {
    fn start() -> Downstream {
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

    fn heads(&self) -> Vec<String> {
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
        let _ = stream.write_all(
            b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
    }
}

#[test]
fn a_plugin_reaches_only_granted_hosts_and_sends_the_idempotency_key() {
    let downstream = Downstream::start();
    let port = downstream.addr.port();
    let config = r#"
[[route]]
name = "granted"
match = { type = "fetch.granted" }
plugins = ["granted"]

[[route]]
name = "ungranted"
match = { type = "fetch.ungranted" }
plugins = ["ungranted"]
"#;
    let workspace = Workspace::with_named_plugins(
        &[("test-fetch", "granted"), ("test-fetch", "ungranted")],
        config,
    );
    let plugins = workspace.path().join("plugins");
    let manifest = format!("max_attempts = 1\n[capabilities]\nhttp = [\"127.0.0.1:{port}\"]\n");
    std::fs::write(plugins.join("granted.toml"), manifest).expect("manifest");
    std::fs::write(plugins.join("ungranted.toml"), "max_attempts = 1\n").expect("manifest");
    let weir = workspace.start();

    let fetch = |id: &str, kind: &str, authority: String| {
        json!({"id": id, "source": "tests", "type": kind,
               "data": {"authority": authority, "path": format!("/hook/{id}")}})
    };
    let events = json!([
        fetch("reached", "fetch.granted", format!("127.0.0.1:{port}")),
        // The same host on a port it was not granted.
        fetch(
            "other-port",
            "fetch.granted",
            format!("127.0.0.1:{}", port.wrapping_add(1))
        ),
        fetch(
            "not-granted",
            "fetch.ungranted",
            format!("127.0.0.1:{port}")
        ),
    ]);
    let answer = weir.post_json("/v1/events", &events.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let reached = settled_event(&weir, "reached");
    assert_eq!(delivery(&reached, "granted")["state"], "done", "{reached}");
    for (id, plugin) in [("other-port", "granted"), ("not-granted", "ungranted")] {
        let event = settled_event(&weir, id);
        let refused = delivery(&event, plugin);
        assert_eq!(refused["state"], "dead", "{event}");
        let error = refused["history"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("HttpRequestDenied"), "{id}: {error}");
    }

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
