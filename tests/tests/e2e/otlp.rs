//! Traces over OTLP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, weir exports its
//! spans as OTLP/HTTP JSON to a collector (here a loopback stand-in that
//! keeps what it is sent). A client's `traceparent` makes the request and the
//! deliveries of its event part of the client's trace, and an emitted event
//! carries the trace on to the next plugin.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Weir, Workspace, delivery, settled_event};
use crate::{EXAMPLE_ROUTES, booking_com};

/// The client's trace.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// A stand-in OTLP/HTTP collector on loopback: it answers every request with
/// 200 and keeps the JSON bodies. It stops with the test.
struct Collector {
    address: String,
    bodies: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
}

impl Collector {
    fn start() -> Collector {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("non-blocking");
        let address = format!("http://{}", listener.local_addr().expect("address"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopped) = (bodies.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let kept = kept.clone();
                        std::thread::spawn(move || serve(stream, &kept));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Collector {
            address,
            bodies,
            stop,
        }
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Value> {
        let bodies = self.bodies.lock().expect("not poisoned");
        bodies
            .iter()
            .flat_map(|body| {
                body["resourceSpans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|resource| {
                resource["scopeSpans"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .flat_map(|scope| scope["spans"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Answers the requests on one connection until the client closes it.
fn serve(stream: TcpStream, kept: &Mutex<Vec<Value>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(json) = serde_json::from_slice(&body) {
            kept.lock().expect("not poisoned").push(json);
        }
        let answer =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The value of a span's string attribute.
fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a str> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|attribute| attribute["key"] == key)?["value"]["stringValue"]
        .as_str()
}

/// The spans named `name` whose `key` attribute is `value`.
fn spans_with<'a>(spans: &'a [Value], name: &str, key: &str, value: &str) -> Vec<&'a Value> {
    spans
        .iter()
        .filter(|span| span["name"] == name && attribute(span, key) == Some(value))
        .collect()
}

#[test]
fn a_clients_trace_runs_through_ingest_deliveries_and_emitted_events() {
    let collector = Collector::start();
    let config = format!(
        "{EXAMPLE_ROUTES}\n[plugins.price-calculator.config]\nbase_price_cents = \"12000\"\n"
    );
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], &config);
    let weir = Weir::start(
        &workspace.serve_args(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.address.as_str()),
            // Export batches every 200 ms rather than every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
        workspace.path(),
    );
    let mut booking = booking_com("traced-1", 4242, "L9");
    booking["tenant"] = json!("acme");
    let headers = [
        ("content-type", "application/json"),
        ("traceparent", TRACEPARENT),
    ];
    let answer = weir.post_with("/v1/events", &headers, &booking.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    // The emitted event carries a trace context of the client's trace.
    let event = settled_event(&weir, "traced-1");
    let normalizer = delivery(&event, "booking-normalizer");
    let child_id = normalizer["result"]["emitted"][0]
        .as_str()
        .expect("emitted");
    let child = settled_event(&weir, child_id);
    let carried = child["traceparent"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceparent on the emitted event: {child}"));
    assert!(carried.starts_with(&format!("00-{TRACE_ID}-")), "{carried}");
    assert_ne!(
        carried, TRACEPARENT,
        "the child's parent is the delivery, not the client"
    );

    // The spans reach the collector, all in the client's trace.
    let spans = weir.wait_for("the spans of both deliveries", |_| {
        let spans = collector.spans();
        let price = spans_with(&spans, "delivery", "plugin", "price-calculator");
        (!price.is_empty()).then_some(spans)
    });
    let request = spans
        .iter()
        .find(|span| span["name"] == "request" && attribute(span, "path") == Some("/v1/events"))
        .unwrap_or_else(|| panic!("no request span: {spans:#?}"));
    assert_eq!(request["traceId"], TRACE_ID, "{request}");
    assert_eq!(request["parentSpanId"], "00f067aa0ba902b7", "{request}");
    let ingest = spans_with(&spans, "ingest", "event_id", "traced-1");
    assert_eq!(ingest.len(), 1, "{spans:#?}");
    assert_eq!(ingest[0]["traceId"], TRACE_ID);
    assert_eq!(attribute(ingest[0], "tenant"), Some("acme"));

    let normalize = spans_with(&spans, "delivery", "event_id", "traced-1");
    assert_eq!(normalize.len(), 1, "{spans:#?}");
    assert_eq!(normalize[0]["traceId"], TRACE_ID);
    assert_eq!(
        attribute(normalize[0], "plugin"),
        Some("booking-normalizer")
    );
    assert_eq!(attribute(normalize[0], "tenant"), Some("acme"));
    let price = spans_with(&spans, "delivery", "event_id", child_id);
    assert_eq!(price.len(), 1, "{spans:#?}");
    assert_eq!(
        price[0]["traceId"], TRACE_ID,
        "the emitted event's delivery joins the trace"
    );
    for name in ["execute", "commit"] {
        let inner: Vec<_> = spans
            .iter()
            .filter(|span| span["name"] == name && span["parentSpanId"] == normalize[0]["spanId"])
            .collect();
        assert_eq!(
            inner.len(),
            1,
            "one {name} span under the delivery: {spans:#?}"
        );
    }
    let execute = spans
        .iter()
        .find(|span| span["name"] == "execute" && span["parentSpanId"] == normalize[0]["spanId"])
        .expect("an execute span");
    assert_eq!(
        attribute(execute, "attempt"),
        Some("1"),
        "the first attempt is 1: {execute:#}"
    );
    weir.stop();
}

#[test]
fn a_bad_otlp_endpoint_is_refused_at_start() {
    let workspace = Workspace::new(&["test-ack"], "");
    let mut args = workspace.serve_args();
    args.extend(["--otlp-endpoint".into(), "not a url".into()]);
    let (code, log) = crate::support::run_to_exit(&args, &[], workspace.path());
    assert_ne!(code, Some(0));
    assert!(
        log.contains("cannot export traces to not a url/v1/traces"),
        "{log}"
    );
}
