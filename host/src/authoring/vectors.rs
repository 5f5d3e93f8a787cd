//! `weir plugin test --vectors FILE`: every case of a test-vectors file through
//! a plugin, each checked against what the file expects.
//!
//! The format is the shared one of `plugins/booking-normalizer.vectors.json`:
//! `{"type": T, "vectors": [{"name", "data", "emit" | "fail"}]}`. Each case's
//! `data` is sent as JSON in an event of type `T`; `emit` is the one event the
//! handler must emit (the attributes it names), `fail` the reason it must fail
//! with. Other keys (`about`) are for readers.

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::error::{AuthoringError, io};
use super::trial::{test_event, trial_event};

/// A vectors file as written.
#[derive(Deserialize)]
struct VectorsFile {
    /// The event type every case's data is sent as.
    #[serde(rename = "type")]
    kind: String,
    vectors: Vec<Vector>,
}

/// One case as written.
#[derive(Deserialize)]
struct Vector {
    name: String,
    data: Value,
    emit: Option<Map<String, Value>>,
    fail: Option<String>,
}

/// How one case went.
#[derive(Debug, serde::Serialize)]
pub struct Case {
    /// The case's name in the file.
    pub name: String,
    /// Each way the handler's result differs from the expected one; none when it passed.
    pub differences: Vec<String>,
}

/// Runs every case in `vectors_file` through the component at `component`,
/// each with a fresh store under `scratch` so that no case sees another's state.
pub fn run_vectors(
    component: &Path,
    vectors_file: &Path,
    scratch: &Path,
) -> Result<Vec<Case>, AuthoringError> {
    let bad = |message: String| AuthoringError::BadVectors {
        path: vectors_file.to_owned(),
        message,
    };
    let text =
        std::fs::read_to_string(vectors_file).map_err(io("read the vectors file", vectors_file))?;
    let file: VectorsFile = serde_json::from_str(&text).map_err(|error| bad(error.to_string()))?;
    let mut cases = Vec::with_capacity(file.vectors.len());
    for (n, vector) in file.vectors.into_iter().enumerate() {
        let mut event = Map::new();
        event.insert("id".into(), json!(format!("vector-{n}")));
        event.insert("type".into(), json!(file.kind));
        event.insert("datacontenttype".into(), json!("application/json"));
        event.insert("data".into(), vector.data);
        let event =
            test_event(event).map_err(|error| bad(format!("case {:?}: {error}", vector.name)))?;
        let expected = match (vector.emit, vector.fail) {
            (Some(emit), None) => Expected::Emit(emit),
            (None, Some(reason)) => Expected::Fail(reason),
            _ => {
                return Err(bad(format!(
                    "case {:?} must have exactly one of `emit` and `fail`",
                    vector.name
                )));
            }
        };
        let trial = trial_event(component, &event, &scratch.join(format!("case-{n}")))?;
        cases.push(Case {
            name: vector.name,
            differences: expected.differences(&trial.result),
        });
    }
    Ok(cases)
}

/// What a case expects of the handler.
enum Expected {
    /// One emitted event with these attributes.
    Emit(Map<String, Value>),
    /// A failure with this reason.
    Fail(String),
}

impl Expected {
    /// How `result` (a [`Trial`](super::Trial)'s) differs from what is expected.
    fn differences(&self, result: &Value) -> Vec<String> {
        match self {
            Expected::Fail(reason) if result["outcome"] == "fail" => {
                let mut found = Vec::new();
                diff("fail", &json!(reason), &result["reason"], &mut found);
                found
            }
            Expected::Fail(reason) => vec![format!("expected fail {reason:?}, got {result}")],
            Expected::Emit(attributes) => match result["events"].as_array().map(Vec::as_slice) {
                Some([event]) if result["outcome"] == "emit" => {
                    let mut found = Vec::new();
                    // Only the attributes the case names: `source` is the runtime's.
                    for (name, value) in attributes {
                        diff(&format!("emit.{name}"), value, &event[name], &mut found);
                    }
                    found
                }
                _ => vec![format!("expected one emitted event, got {result}")],
            },
        }
    }
}

/// Each leaf where `got` differs from `expected`, named by its path from
/// `at`, so that a long event points at the one field that is wrong.
fn diff(at: &str, expected: &Value, got: &Value, found: &mut Vec<String>) {
    match (expected, got) {
        (Value::Object(expected), Value::Object(got)) => {
            for key in expected
                .keys()
                .chain(got.keys().filter(|key| !expected.contains_key(*key)))
            {
                let missing = Value::Null;
                let (want, have) = (
                    expected.get(key).unwrap_or(&missing),
                    got.get(key).unwrap_or(&missing),
                );
                diff(&format!("{at}.{key}"), want, have, found);
            }
        }
        _ if expected != got => found.push(format!("{at}: expected {expected}, got {got}")),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_the_field_that_differs() {
        let mut found = Vec::new();
        diff(
            "emit.data",
            &json!({"nights": 3, "guest": {"name": "Ada"}}),
            &json!({"nights": 4, "guest": {"name": "Ada"}, "extra": 1}),
            &mut found,
        );
        assert_eq!(
            found,
            [
                "emit.data.nights: expected 3, got 4",
                "emit.data.extra: expected null, got 1"
            ]
        );
    }

    #[test]
    fn a_wrong_outcome_is_reported_whole() {
        let expected = Expected::Fail("missing field x".into());
        assert_eq!(
            expected.differences(&json!({"outcome": "ack"})),
            [r#"expected fail "missing field x", got {"outcome":"ack"}"#]
        );
        assert!(
            expected
                .differences(&json!({"outcome": "fail", "reason": "missing field x"}))
                .is_empty()
        );
    }
}
