//! An event read back from `GET /v1/events/{id}` is the event that was sent,
//! in the CloudEvents JSON format: its `specversion`, extensions with their
//! JSON types, binary data as `data_base64` by its media type, and JSON data
//! exactly as written.

use serde_json::{Value, json};

use crate::support::{Weir, Workspace};

/// The stored event `id`, once it was accepted.
fn read_back(weir: &Weir, id: &str) -> (Value, String) {
    let answer = weir.get(&format!("/v1/events/{id}"));
    assert_eq!(answer.status, 200, "{}", answer.text);
    (answer.body, answer.text)
}

fn binary_headers<'a>(id: &'a str, content_type: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("ce-specversion", "1.0"),
        ("ce-id", id),
        ("ce-source", "tests"),
        ("ce-type", "fidelity"),
        ("content-type", content_type),
    ]
}

#[test]
fn extensions_keep_their_types_and_the_event_its_specversion() {
    let workspace = Workspace::new(&[], "");
    let weir = workspace.start();
    let event = json!({"id": "typed", "source": "tests", "type": "fidelity",
        "count": 42, "negative": -7, "vip": true, "closed": false,
        "ratio": 1.5, "note": "42"});
    let answer = weir.post(
        "/v1/events",
        "application/cloudevents+json",
        &event.to_string(),
    );
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (stored, text) = read_back(&weir, "typed");
    assert_eq!(stored["specversion"], "1.0", "{text}");
    assert_eq!(stored["count"], json!(42), "{text}");
    assert_eq!(stored["negative"], json!(-7), "{text}");
    assert_eq!(stored["vip"], json!(true), "{text}");
    assert_eq!(stored["closed"], json!(false), "{text}");
    // CloudEvents has no type for a fraction: it is kept as its text.
    assert_eq!(stored["ratio"], json!("1.5"), "{text}");
    assert_eq!(
        stored["note"],
        json!("42"),
        "a string stays a string: {text}"
    );

    // Binary-mode headers carry text only, so their values stay strings.
    let mut headers = binary_headers("typed-binary", "text/plain");
    headers.push(("ce-count", "42"));
    let answer = weir.post_with("/v1/events", &headers, "hi");
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (stored, text) = read_back(&weir, "typed-binary");
    assert_eq!(stored["specversion"], "1.0", "{text}");
    assert_eq!(stored["count"], json!("42"), "{text}");

    // Weir's own extensions take strings only; null is the same as absent.
    let numbered = json!({"source": "tests", "type": "fidelity", "stage": 3});
    let refused = weir.post_json("/v1/events", &numbered.to_string());
    assert_eq!(refused.status, 400, "{}", refused.text);
    assert!(
        refused.text.contains("stage must be a string"),
        "{}",
        refused.text
    );
    let nulls =
        json!({"id": "nulls", "source": "tests", "type": "fidelity", "stage": null, "x": null});
    let answer = weir.post_json("/v1/events", &nulls.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (stored, text) = read_back(&weir, "nulls");
    assert!(
        stored.get("x").is_none() && stored.get("stage").is_none(),
        "{text}"
    );
    weir.stop();
}

#[test]
fn binary_data_comes_back_as_data_base64_even_when_it_is_utf8() {
    let workspace = Workspace::new(&[], "");
    let weir = workspace.start();
    let headers = binary_headers("octets", "application/octet-stream");
    let answer = weir.post_with("/v1/events", &headers, "hello");
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (stored, text) = read_back(&weir, "octets");
    assert_eq!(stored["data_base64"], "aGVsbG8=", "{text}");
    assert!(stored.get("data").is_none(), "{text}");

    let structured = json!({"id": "octets-structured", "source": "tests", "type": "fidelity",
        "datacontenttype": "application/octet-stream", "data_base64": "aGVsbG8="});
    let answer = weir.post_json("/v1/events", &structured.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (stored, text) = read_back(&weir, "octets-structured");
    assert_eq!(stored["data_base64"], "aGVsbG8=", "{text}");

    // Text stays text.
    let headers = binary_headers("csv", "text/csv");
    let answer = weir.post_with("/v1/events", &headers, "a,b\n");
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (stored, text) = read_back(&weir, "csv");
    assert_eq!(stored["data"], "a,b\n", "{text}");
    assert!(stored.get("data_base64").is_none(), "{text}");
    weir.stop();
}

#[test]
fn json_data_comes_back_exactly_as_it_was_sent() {
    let workspace = Workspace::new(&[], "");
    let weir = workspace.start();
    let data = r#"{"zeta": 1, "alpha": {"b": 2, "a": 1}, "price": 1.50, "list": [3, 1]}"#;
    let body =
        format!(r#"{{"id": "ordered", "source": "tests", "type": "fidelity", "data": {data}}}"#);
    let answer = weir.post_json("/v1/events", &body);
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (stored, text) = read_back(&weir, "ordered");
    assert!(text.contains(&format!(r#""data":{data}"#)), "{text}");
    assert_eq!(stored["data"]["alpha"]["b"], 2, "{text}");

    let binary = r#"{"z":1,"a":{"y":2,"b":3}}"#;
    let headers = binary_headers("ordered-binary", "application/json");
    let answer = weir.post_with("/v1/events", &headers, binary);
    assert_eq!(answer.status, 202, "{}", answer.text);
    let (_, text) = read_back(&weir, "ordered-binary");
    assert!(text.contains(&format!(r#""data":{binary}"#)), "{text}");
    weir.stop();
}
