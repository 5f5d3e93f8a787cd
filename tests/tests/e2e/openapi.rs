//! The OpenAPI document at `/v1/openapi.json`: it lists every route the API
//! serves, and schemathesis (from PyPI, installed by `.ci/run`) generates
//! requests from it against a live weir without getting a server error.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::{call, start_with_tokens};
use crate::support::run_python;

/// The longest a schemathesis run may take; it needs about 15 s.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Every operation of the API, as (method, path).
const OPERATIONS: [(&str, &str); 22] = [
    ("get", "/healthz"),
    ("get", "/v1/dashboard"),
    ("get", "/metrics"),
    ("get", "/readyz"),
    ("delete", "/v1/dead-letters/{id}"),
    ("get", "/v1/dead-letters"),
    ("get", "/v1/events/{id}"),
    ("get", "/v1/plugins"),
    ("get", "/v1/plugins/{name}/state"),
    ("get", "/v1/replays/{id}"),
    ("get", "/v1/routes"),
    ("get", "/v1/tenants"),
    ("post", "/v1/dead-letters/replay"),
    ("post", "/v1/dead-letters/{id}/replay"),
    ("post", "/v1/events"),
    ("post", "/v1/plugins/{name}/pause"),
    ("post", "/v1/plugins/{name}/resume"),
    ("post", "/v1/replay"),
    ("post", "/v1/routes/explain"),
    ("post", "/v1/tenants/{tenant}/pause"),
    ("post", "/v1/tenants/{tenant}/resume"),
    ("post", "/v1/webhooks/{name}"),
];

#[test]
fn the_document_lists_every_route_with_its_errors_and_auth() {
    let (_workspace, weir, _tokens) = start_with_tokens();
    // The API's shape is no secret: the document needs no token.
    let answer = weir.get("/v1/openapi.json");
    assert_eq!(answer.status, 200, "{}", answer.text);
    let document = answer.body;
    assert_eq!(document["openapi"], "3.1.0");

    let mut listed = BTreeSet::new();
    let paths = document["paths"].as_object().expect("paths");
    for (path, item) in paths {
        for (method, operation) in item.as_object().expect("path item") {
            listed.insert((method.clone(), path.clone()));
            let default = &operation["responses"]["default"]["content"]["application/json"];
            assert_eq!(
                default["schema"]["$ref"], "#/components/schemas/ErrorBody",
                "{method} {path} does not describe its error answers"
            );
        }
    }
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    assert_eq!(listed, expected);

    // Bearer tokens everywhere but the health checks and signed webhooks.
    assert_eq!(document["security"], json!([{"bearer": []}]));
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, method) in [("/healthz", "get"), ("/v1/webhooks/{name}", "post")] {
        assert_eq!(document["paths"][path][method]["security"], json!([{}]));
    }
    let body = &document["paths"]["/v1/events"]["post"]["requestBody"]["content"];
    for media_type in [
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    ] {
        assert!(body.get(media_type).is_some(), "{media_type}: {body}");
    }
    weir.stop();
}

#[test]
fn schemathesis_finds_no_server_error() {
    let (workspace, weir, tokens) = start_with_tokens();
    // Something to read: one event that reaches its (failing) plugin.
    let event = json!({"id": "seed-1", "source": "tests", "type": "order.placed"});
    let answer = call(
        &weir,
        "POST",
        "/v1/events",
        &tokens.admin,
        &event.to_string(),
    );
    assert_eq!(answer.status, 202, "{}", answer.text);

    let schema = weir.url("/v1/openapi.json");
    let bearer = format!("Authorization: Bearer {}", tokens.admin);
    // Bounded: examples per operation, a timeout per request, and a watchdog.
    let (code, printed) = run_python(
        &[
            "-m",
            "schemathesis.cli",
            "run",
            &schema,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--request-timeout",
            "10",
            "--seed",
            "1",
            "-H",
            &bearer,
            "--no-color",
        ],
        &workspace.path().join("schemathesis.txt"),
        RUN_LIMIT,
    );
    assert!(
        code == Some(0),
        "schemathesis failed or ran past {RUN_LIMIT:?} (it comes from \
         `pip install -r tests/requirements.txt`):\n{printed}"
    );
    assert!(printed.contains("Tested: 22"), "{printed}");

    // Still serving, and nothing went wrong inside.
    assert_eq!(weir.get("/healthz").status, 200);
    let log = weir.log_text();
    assert!(!log.contains("panicked"), "weir panicked:\n{log}");
    let health: Value = call(&weir, "GET", "/readyz", &tokens.admin, "").body;
    assert_eq!(health["status"], "ready");
    weir.stop();
}
