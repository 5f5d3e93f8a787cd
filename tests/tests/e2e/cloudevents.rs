//! The CloudEvents HTTP binary mode: attributes in `ce-*` headers, the body as
//! the data, `Content-Type` as its type — as the official SDKs send it.

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
