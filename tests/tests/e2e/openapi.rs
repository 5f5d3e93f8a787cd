//! The OpenAPI document at `/v1/openapi.json`: it lists every route the API
//! serves, and describes the server that serves it. schemathesis (from PyPI,
//! installed by `.ci/run`) generates requests from it against a live weir,
//! with auth off and with tokens, and runs every check it has: no server
//! error, and every answer, constraint, status and auth rule as documented.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::auth::{ROUTES, call, start_with_tokens};
use crate::support::{Weir, Workspace, run_python};

/// The longest a schemathesis run may take; it needs about 45 s.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// How schemathesis is told what no schema can say (`tests/schemathesis.toml`).
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemathesis.toml");

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
fn without_tokens_the_document_asks_for_none() {
    let workspace = Workspace::new(&["test-always-fail"], ROUTES);
    let weir = workspace.start();
    let document = weir.get("/v1/openapi.json").body;
    assert!(
        document.get("security").is_none(),
        "{}",
        document["security"]
    );
    assert_eq!(document["components"]["securitySchemes"], Value::Null);
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            assert!(
                operation.get("security").is_none(),
                "{method} {path} asks for a token with auth off"
            );
            // And every POST to the admin API says it is JSON, as the
            // server then requires (webhooks take their sender's body).
            if method == "post" && !path.starts_with("/v1/webhooks/") {
                assert!(
                    operation["requestBody"]["content"]["application/json"].is_object(),
                    "{method} {path} takes no JSON body: {operation}"
                );
            }
        }
    }
    weir.stop();
}

/// The operations whose success answer is no JSON schema: the metrics are text.
const UNTYPED_ANSWERS: [(&str, &str); 1] = [("get", "/metrics")];

#[test]
fn every_json_answer_names_its_schema() {
    let workspace = Workspace::new(&["test-always-fail"], ROUTES);
    let weir = workspace.start();
    let document = weir.get("/v1/openapi.json").body;
    for (method, path) in OPERATIONS {
        if UNTYPED_ANSWERS.contains(&(method, path)) {
            continue;
        }
        let responses = &document["paths"][path][method]["responses"];
        let success = responses
            .as_object()
            .and_then(|all| all.iter().find(|(status, _)| status.starts_with('2')))
            .map(|(_, response)| response)
            .unwrap_or_else(|| panic!("{method} {path}: no success answer"));
        let schema = &success["content"]["application/json"]["schema"]["$ref"];
        assert!(
            schema
                .as_str()
                .is_some_and(|name| name.starts_with("#/components/schemas/")),
            "{method} {path}: {success}"
        );
    }
    let listing = &document["components"]["schemas"]["DeadLetterListing"];
    assert_eq!(
        listing["properties"]["dead_letters"]["items"]["$ref"], "#/components/schemas/DeadLetter",
        "{listing}"
    );
    let plugins = &document["components"]["schemas"]["PluginListing"];
    assert_eq!(
        plugins["properties"]["plugins"]["items"]["$ref"], "#/components/schemas/PluginView",
        "{plugins}"
    );
    // And every member of every body is described down to its leaves: no
    // object whose members the document does not name.
    let mut untyped = Vec::new();
    untyped_objects(&document["components"]["schemas"], "schemas", &mut untyped);
    assert!(untyped.is_empty(), "objects without members: {untyped:?}");
    weir.stop();
}

/// The places under `schema` (at `path`) of an object schema that names
/// neither its members nor what their values are.
fn untyped_objects(schema: &Value, path: &str, found: &mut Vec<String>) {
    match schema {
        Value::Object(members) => {
            let is_object = match &members.get("type") {
                Some(Value::String(kind)) => kind == "object",
                Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "object"),
                _ => false,
            };
            let described = [
                "properties",
                "additionalProperties",
                "allOf",
                "oneOf",
                "$ref",
            ]
            .iter()
            .any(|key| members.contains_key(*key));
            if is_object && !described {
                found.push(path.to_owned());
            }
            for (key, value) in members {
                untyped_objects(value, &format!("{path}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                untyped_objects(item, &format!("{path}[{index}]"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_states_the_constraints_the_server_enforces() {
    let workspace = Workspace::new(&["test-always-fail"], ROUTES);
    let weir = workspace.start();
    let document = weir.get("/v1/openapi.json").body;
    let parameter = |path: &str, method: &str, name: &str| {
        document["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or(Value::Null)
    };
    let limit = parameter("/v1/dead-letters", "get", "limit");
    assert_eq!(
        (&limit["schema"]["minimum"], &limit["schema"]["maximum"]),
        (&json!(1), &json!(1000))
    );
    assert_eq!(
        parameter("/v1/dead-letters/replay", "post", "cursor"),
        Value::Null,
        "a bulk replay takes no cursor"
    );
    let tenant = parameter("/v1/tenants/{tenant}/pause", "post", "tenant");
    assert_eq!(tenant["schema"]["pattern"], "^[A-Za-z0-9._-]{1,64}$");
    let schemas = &document["components"]["schemas"];
    let rate = &schemas["ReplayRequest"]["properties"]["rate_per_sec"];
    assert_eq!(
        (&rate["minimum"], &rate["maximum"]),
        (&json!(1), &json!(100000))
    );
    let names = &schemas["CloudEvent"]["propertyNames"];
    assert_eq!(names["anyOf"][0]["pattern"], "^[a-z0-9]{1,20}$");
    assert!(
        names["not"]["enum"]
            .as_array()
            .expect("reserved")
            .contains(&json!("hops")),
        "{names}"
    );
    // Each answer the server gives these requests is one the document names.
    let batch = weir.post_json("/v1/routes/explain", r#"[null, null]"#);
    assert_eq!(batch.status, 400, "{}", batch.text);
    assert!(batch.text.contains("not a batch"), "{}", batch.text);
    let replay = r#"{"plugin": "test-always-fail", "since_sequence": 0, "rate_per_sec": 147.0}"#;
    let answer = weir.post_json("/v1/replay", replay);
    assert_eq!(
        answer.status, 202,
        "a whole number is an integer: {}",
        answer.text
    );
    let fraction = weir.post_json("/v1/replay", &replay.replace("147.0", "1.5"));
    assert_eq!(fraction.status, 400, "{}", fraction.text);
    assert!(
        fraction.text.contains("1.5 is not a whole number"),
        "{}",
        fraction.text
    );
    weir.stop();
}

#[test]
fn schemathesis_passes_every_check_with_auth_off() {
    let workspace = Workspace::new(&["test-always-fail"], ROUTES);
    let weir = workspace.start();
    run_schemathesis(&workspace, weir, None);
}

#[test]
fn schemathesis_passes_every_check_with_tokens() {
    let (workspace, weir, tokens) = start_with_tokens();
    run_schemathesis(&workspace, weir, Some(&tokens.admin));
}

/// Runs schemathesis with `--checks all` against `weir`, as the admin if
/// there is a `token`, and asserts that every check passed and nothing went
/// wrong inside.
fn run_schemathesis(workspace: &Workspace, weir: Weir, token: Option<&str>) {
    // Something to read: one event that reaches its (failing) plugin.
    let event = json!({"id": "seed-1", "source": "tests", "type": "doomed"});
    let answer = call(
        &weir,
        "POST",
        "/v1/events",
        token.unwrap_or(""),
        &event.to_string(),
    );
    assert_eq!(answer.status, 202, "{}", answer.text);

    let schema = weir.url("/v1/openapi.json");
    let bearer = token.map(|token| format!("Authorization: Bearer {token}"));
    let mut args = vec![
        "-m",
        "schemathesis.cli",
        "--config-file",
        CONFIG,
        "run",
        &schema,
        "--checks",
        "all",
        // Bounded: examples per operation, a timeout per request, and a watchdog.
        "--max-examples",
        "20",
        "--request-timeout",
        "10",
        "--seed",
        "7",
        "--no-color",
    ];
    if let Some(bearer) = &bearer {
        args.extend(["-H", bearer]);
    }
    let (code, printed) = run_python(&args, &workspace.path().join("schemathesis.txt"), RUN_LIMIT);
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
    let health: Value = call(&weir, "GET", "/readyz", token.unwrap_or(""), "").body;
    assert_eq!(health["status"], "ready");
    weir.stop();
}
