//! `weir plugin test`: one event through a plugin, with weir's runtime and
//! limits and a scratch store, and everything the handler did.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::error::{AuthoringError, io};
use super::workbench::{Workbench, cache_dir};
use crate::event::{DEFAULT_TENANT, Event, parse_event};
use crate::runtime::{Attempt, NewEvent, Outcome, engine};

/// What one event did in the handler.
#[derive(Debug, serde::Serialize)]
pub struct Trial {
    /// `{"outcome": "ack" | "emit" | "retry-later" | "fail", ...}`, or
    /// `{"failure": {"kind", "message"}}` when the handler trapped or hit a limit.
    pub result: Value,
    /// State writes it asked for: key → value (JSON if it parses, else text), null for a delete.
    pub state_writes: BTreeMap<String, Value>,
    /// Fuel burned, of `fuel_limit`.
    pub fuel_consumed: u64,
    /// The plugin's fuel budget per delivery.
    pub fuel_limit: u64,
    /// Instantiation and the call, in milliseconds.
    pub duration_ms: f64,
}

/// Runs the event in `event_file` through the component at `component`;
/// `scratch` holds the store for the run. The handler's log lines go to the
/// tracing subscriber.
pub fn trial(component: &Path, event_file: &Path, scratch: &Path) -> Result<Trial, AuthoringError> {
    trial_event(component, &read_event(event_file)?, scratch)
}

/// Runs `event` through the component at `component`, with a store in `scratch`.
pub(super) fn trial_event(
    component: &Path,
    event: &Event,
    scratch: &Path,
) -> Result<Trial, AuthoringError> {
    let bench = Workbench::open(component, scratch, &cache_dir()?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(io("start a runtime in", scratch))?;
    let state = bench.state()?;
    let engine = bench.plugins.engine().clone();
    let version = bench.version;
    let limits = version.limits.clone();
    let execution = runtime.block_on(async {
        let ticking = CancellationToken::new();
        tokio::spawn(engine::tick_epochs(engine, ticking.clone()));
        let attempt = Attempt {
            event,
            number: 1,
            generation: 0,
            limits: &limits,
        };
        let execution = version.run(state, attempt).await;
        ticking.cancel();
        execution
    });
    Ok(Trial {
        result: match execution.result {
            Ok(outcome) => describe(&outcome),
            Err(failure) => {
                json!({"failure": {"kind": failure.kind.as_str(), "message": failure.message}})
            }
        },
        state_writes: execution
            .effects
            .state_writes
            .into_iter()
            .map(|(key, value)| (key, value.map_or(Value::Null, |bytes| readable(&bytes))))
            .collect(),
        fuel_consumed: execution.fuel_consumed,
        fuel_limit: limits.fuel,
        duration_ms: execution.duration.as_secs_f64() * 1e3,
    })
}

/// The event in `path`: CloudEvents JSON, where `id`, `source` and
/// `specversion` may be left out for a test.
fn read_event(path: &Path) -> Result<Event, AuthoringError> {
    let text = std::fs::read_to_string(path).map_err(io("read the event file", path))?;
    let bad = |message: String| AuthoringError::BadEvent {
        path: path.to_owned(),
        message,
    };
    let object: Map<String, Value> = serde_json::from_str(&text)
        .map_err(|error| bad(format!("invalid JSON object: {error}")))?;
    test_event(object).map_err(bad)
}

/// A test event from CloudEvents attributes, `id`, `source` and
/// `specversion` filled in when left out.
pub(super) fn test_event(mut object: Map<String, Value>) -> Result<Event, String> {
    for (key, default) in [
        ("specversion", "1.0"),
        ("id", "test-1"),
        ("source", "weir://plugin-test"),
    ] {
        object.entry(key).or_insert_with(|| json!(default));
    }
    parse_event(object, DEFAULT_TENANT)
}

/// An outcome as JSON, emitted events with their data readable.
fn describe(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Ack => json!({"outcome": "ack"}),
        Outcome::Emit(events) => {
            json!({"outcome": "emit", "events": events.iter().map(emitted).collect::<Vec<_>>()})
        }
        Outcome::RetryLater(ms) => json!({"outcome": "retry-later", "after_ms": ms}),
        Outcome::Fail(reason) => json!({"outcome": "fail", "reason": reason}),
    }
}

fn emitted(event: &NewEvent) -> Value {
    json!({
        "type": event.type_,
        "source": event.source,
        "subject": event.subject,
        "datacontenttype": event.datacontenttype,
        "extensions": event.extensions.iter().cloned().collect::<BTreeMap<_, _>>(),
        "data": readable(&event.data),
    })
}

/// Bytes as JSON if they parse, else as text, else as base64.
fn readable(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|_| match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
    })
}
