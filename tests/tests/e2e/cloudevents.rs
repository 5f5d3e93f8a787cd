//! The CloudEvents HTTP binary mode: attributes in `ce-*` headers, the body as
//! the data, `Content-Type` as its type — as the official SDKs send it; and
//! what the official Python SDK sends, in binary and structured mode.

use crate::support::Workspace;

#[test]
fn a_binary_mode_event_is_stored_with_its_headers_as_attributes() {
    let workspace = Workspace::new(&[], "");
    let weir = workspace.start();
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "binary-1"),
        ("ce-source", "https://shop.example/orders"),
        ("ce-type", "order.created"),
        ("ce-subject", "order%2042"),
        ("ce-region", "eu"),
        ("content-type", "text/csv"),
    ];
    let answer = weir.post_with("/v1/events", &headers, "sku,qty\nA1,2\n");
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.body["ids"][0], "binary-1");

    let stored = weir.get("/v1/events/binary-1").body;
    let event = &stored;
    assert_eq!(event["type"], "order.created", "{stored}");
    assert_eq!(event["subject"], "order 42", "percent-decoded: {stored}");
    assert_eq!(event["region"], "eu", "an extension: {stored}");
    assert_eq!(event["datacontenttype"], "text/csv", "{stored}");
    assert_eq!(
        event["data"], "sku,qty\nA1,2\n",
        "the body, as sent: {stored}"
    );

    let json_body = [
        ("ce-specversion", "1.0"),
        ("ce-id", "binary-2"),
        ("ce-source", "s"),
        ("ce-type", "order.paid"),
        ("content-type", "application/json"),
    ];
    let answer = weir.post_with("/v1/events", &json_body, r#"{"amount": 12}"#);
    assert_eq!(answer.status, 202, "{}", answer.text);
    let stored = weir.get("/v1/events/binary-2").body;
    assert_eq!(stored["data"]["amount"], 12, "{stored}");

    let no_type = [
        ("ce-specversion", "1.0"),
        ("ce-id", "binary-3"),
        ("ce-source", "s"),
    ];
    let answer = weir.post_with("/v1/events", &no_type, "x");
    assert_eq!(answer.status, 400, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "invalid_event");
    assert!(answer.text.contains("type"), "{}", answer.text);
    assert_eq!(
        weir.get("/v1/events/binary-3").status,
        404,
        "nothing stored"
    );
    weir.stop();
}

/// What the official Python SDK sends for one event in each mode: `{mode:
/// {"headers": {...}, "body": "..."}}`.
const SDK_REQUESTS: &str = "import json\n\
    from cloudevents.v1.http import CloudEvent\n\
    from cloudevents.v1.conversion import to_binary, to_structured\n\
    out = {}\n\
    for mode, convert in [('binary', to_binary), ('structured', to_structured)]:\n\
    \x20   event = CloudEvent({'type': 'order.created', 'source': 'https://shop.example', 'id': 'sdk-' + mode,\n\
    \x20                       'tenant': 'acme', 'datacontenttype': 'application/json'}, {'order': 42})\n\
    \x20   headers, body = convert(event)\n\
    \x20   out[mode] = {'headers': dict(headers), 'body': body.decode()}\n\
    print(json.dumps(out))";

#[test]
fn events_from_the_official_sdk_are_taken_in_binary_and_structured_mode() {
    let workspace = Workspace::new(&[], "");
    let weir = workspace.start();
    let requests: serde_json::Value = serde_json::from_str(&crate::python::run(SDK_REQUESTS, &[]))
        .expect("the script prints JSON");
    for mode in ["binary", "structured"] {
        let request = &requests[mode];
        let headers: Vec<(&str, &str)> = request["headers"]
            .as_object()
            .expect("headers")
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str().expect("header text")))
            .collect();
        let body = request["body"].as_str().expect("body");
        let answer = weir.post_with("/v1/events", &headers, body);
        assert_eq!(answer.status, 202, "{mode}: {}", answer.text);
        let event = weir.get(&format!("/v1/events/sdk-{mode}")).body;
        assert_eq!(event["type"], "order.created", "{mode}: {event}");
        assert_eq!(event["tenant"], "acme", "{mode}: {event}");
        assert_eq!(event["data"]["order"], 42, "{mode}: {event}");
        assert!(event["time"].is_string(), "{mode}: the SDK's time: {event}");
    }
    weir.stop();
}
