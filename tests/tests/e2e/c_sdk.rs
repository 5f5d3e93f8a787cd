//! The C SDK's JSON reader, held to serde_json: `plugins/test-c-json`, built
//! with `weir plugin build`, parses each case inside weir's runtime and
//! writes the value back; valid text must give serde_json's value, and
//! invalid text an error that names the problem and where it is.

use serde_json::{Value, json};

use crate::support::{built_example, plugin_trial};

/// Texts serde_json accepts.
const VALID: &[&str] = &[
    r#"{"a": 1, "b": [true, false, null], "c": "x", "d": {"e": {}}}"#,
    r#""quote \" backslash \\ slash \/ controls \b\f\n\r\t accent \u00e9 emoji \ud83d\ude00 raw é""#,
    "[0, -0, 12.5, -3e2, 1E-3, 2.5e+3, 18446744073709551615, 18446744073709551616, 1.7976931348623157e308]",
    " \n\t[ ] ",
    r#"{"k": 1, "k": 2}"#,
    "7",
];

/// Texts serde_json refuses, and what the SDK must say about each.
const INVALID: &[(&str, &str)] = &[
    ("", "expected a value at byte 0"),
    (r#"{"a" 1}"#, "expected ':' at byte 5"),
    ("[1,]", "expected a value at byte 3"),
    ("[1 2]", "expected ',' or ']' at byte 3"),
    ("{1: 2}", "expected a key at byte 1"),
    ("01", "trailing characters at byte 1"),
    ("\"a\u{1}\"", "a control character in a string at byte 2"),
    (r#""\ud800""#, "a lone surrogate"),
    (r#""\q""#, "an unknown escape in a string"),
    (r#""abc"#, "an unterminated string"),
    ("1.", "a number without digits after its point"),
    ("-", "a number without digits at byte 1"),
    ("1e", "a number without digits in its exponent"),
    ("tru", "expected a value at byte 0"),
];

#[test]
fn the_c_json_reader_agrees_with_serde_json_and_names_each_error() {
    let deep_ok = format!("{}{}", "[".repeat(128), "]".repeat(128));
    let too_deep = format!("{}{}", "[".repeat(129), "]".repeat(129));
    let mut cases: Vec<&str> = VALID.to_vec();
    cases.push(&deep_ok);
    cases.extend(INVALID.iter().map(|(text, _)| *text));
    cases.push(&too_deep);

    let folder = tempfile::tempdir().expect("temp dir");
    let event = folder.path().join("event.json");
    std::fs::write(
        &event,
        json!({"type": "json.cases", "data": cases}).to_string(),
    )
    .expect("write the event");
    let component = built_example("test-c-json");
    let (_, trial) = plugin_trial(&component, &event);
    // `weir plugin test` shows emitted data as the text the handler wrote.
    let data = trial["result"]["events"][0]["data"]
        .as_str()
        .unwrap_or_else(|| panic!("emitted JSON text: {trial:#}"));
    // The deepest valid case sits two levels down in the answer, past
    // serde_json's own limit of 128: it is checked as text, then read as 0.
    let deep_answer = format!("{{\"value\":{deep_ok}}}");
    assert!(data.contains(&deep_answer), "{data}");
    let data = data.replacen(&deep_answer, "{\"value\":0}", 1);
    let results: Vec<Value> =
        serde_json::from_str(&data).unwrap_or_else(|e| panic!("one result per case ({e}): {data}"));
    assert_eq!(results.len(), cases.len(), "{trial:#}");

    let valid = VALID.len() + 1;
    for (text, result) in cases[..valid].iter().zip(&results) {
        let expected: Value = if *text == deep_ok {
            json!(0)
        } else {
            serde_json::from_str(text).expect("serde_json parses it")
        };
        assert!(
            same_json(&result["value"], &expected),
            "{text:?}: the C SDK read {result}, serde_json {expected}"
        );
    }
    let refused = INVALID
        .iter()
        .map(|(text, message)| (*text, *message))
        .chain([(too_deep.as_str(), "nesting deeper than 128 at byte 128")]);
    for ((text, message), result) in refused.zip(&results[valid..]) {
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
        let error = result["error"].as_str().unwrap_or_default();
        assert!(
            error.contains(message),
            "{text:?}: expected {message:?}, got {result}"
        );
    }
}

/// Equal JSON, numbers compared as doubles (the SDK writes back what it
/// read as a double; serde_json keeps integers apart).
fn same_json(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, x)| b.get(key).is_some_and(|y| same_json(x, y)))
        }
        _ => left == right,
    }
}
