//! `[auth]`: with tokens listed, every API call but the health checks needs
//! one. A tenant's token reaches its own tenant's events, dead letters and
//! status only (403 for naming another tenant; another tenant's event is, to
//! it, not there: 404); the admin token reaches everything. The
//! tokens are made by `weir token new`, as the README says to.

use serde_json::{Value, json};

use crate::support::{Answer, Weir, Workspace, settled_event};

/// Routes `doomed` events to a plugin that fails them.
pub const ROUTES: &str = r#"
[[route]]
name = "doomed"
match = { type = "doomed" }
plugins = ["test-always-fail"]

[[route]]
name = "beta-private"
match = { type = "private", tenant = "beta" }
plugins = ["test-always-fail"]
"#;

/// Runs `weir token new ARGS` and returns the token and the config it prints.
fn new_token(workspace: &Workspace, args: &[&str]) -> (String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
        .args(["token", "new"])
        .args(args)
        .current_dir(workspace.path())
        .output()
        .expect("run weir token new");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let token = text
        .lines()
        .find_map(|line| line.strip_prefix("token: "))
        .unwrap_or_else(|| panic!("no token in {text}"))
        .to_owned();
    let hash_line = text
        .lines()
        .find(|line| line.contains("sha256:"))
        .unwrap_or_else(|| panic!("no hash in {text}"))
        .to_owned();
    (token, hash_line)
}

pub struct Tokens {
    pub admin: String,
    pub acme: String,
    pub beta: String,
}

/// A weir with an admin token and one token each for tenants acme and beta.
pub fn start_with_tokens() -> (Workspace, Weir, Tokens) {
    let workspace = Workspace::new(&["test-always-fail"], ROUTES);
    let (admin, admin_line) = new_token(&workspace, &[]);
    let (acme, acme_line) = new_token(&workspace, &["--tenant", "acme"]);
    let (beta, beta_line) = new_token(&workspace, &["--tenant", "beta"]);
    let config =
        format!("[auth]\n{admin_line}\n[auth.tenants]\n{acme_line}\n{beta_line}\n{ROUTES}");
    std::fs::write(workspace.path().join("weir.toml"), config).expect("write config");
    let weir = workspace.start();
    (workspace, weir, Tokens { admin, acme, beta })
}

pub fn call(weir: &Weir, method: &str, path: &str, token: &str, body: &str) -> Answer {
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    weir.request(method, path, &headers, body)
}

fn assert_error(answer: &Answer, status: u16, code: &str, says: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.text);
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(says), "{message}");
}

#[test]
fn a_request_without_a_known_token_is_refused_and_health_stays_open() {
    let (_workspace, weir, tokens) = start_with_tokens();
    let event = json!({"id": "e1", "source": "tests", "type": "doomed"}).to_string();

    let anonymous = weir.post_json("/v1/events", &event);
    assert_error(&anonymous, 401, "unauthorized", "Authorization: Bearer");
    assert_eq!(anonymous.www_authenticate.as_deref(), Some("Bearer"));
    let basic = weir.request(
        "POST",
        "/v1/events",
        &[
            ("authorization", "Basic YWRtaW46YWRtaW4="),
            ("content-type", "application/json"),
        ],
        &event,
    );
    assert_error(&basic, 401, "unauthorized", "must be \"Bearer <token>\"");
    let unknown = call(&weir, "POST", "/v1/events", "weir_not-a-token", &event);
    assert_error(&unknown, 401, "unauthorized", "not one [auth] lists");

    assert_error(&weir.get("/metrics"), 401, "unauthorized", "Bearer");
    let metrics = call(&weir, "GET", "/metrics", &tokens.admin, "");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .contains("weir_ingest_rejected_total{reason=\"unauthorized\"} 3"),
        "{}",
        metrics.text
    );
    assert_eq!(weir.get("/healthz").status, 200);
    assert_eq!(weir.get("/readyz").status, 200);

    let stored = call(&weir, "GET", "/v1/events/e1", &tokens.admin, "");
    assert_eq!(
        stored.status, 404,
        "a refused event was stored: {}",
        stored.text
    );
    let beta = call(&weir, "GET", "/v1/tenants", &tokens.beta, "");
    assert_eq!(beta.body["tenants"][0]["tenant"], "beta", "{}", beta.text);
    assert!(
        !weir.log_text().contains(&tokens.admin),
        "a token reached the log"
    );
}

#[test]
fn a_tenant_token_reaches_its_own_tenant_only() {
    let (_workspace, weir, tokens) = start_with_tokens();
    // An event that names no tenant belongs to the token's tenant.
    let mine = json!({"id": "acme-1", "source": "tests", "type": "doomed"}).to_string();
    let posted = call(&weir, "POST", "/v1/events", &tokens.acme, &mine);
    assert_eq!(posted.status, 202, "{}", posted.text);
    let theirs =
        json!({"id": "beta-1", "source": "tests", "type": "doomed", "tenant": "beta"}).to_string();
    let posted = call(&weir, "POST", "/v1/events", &tokens.beta, &theirs);
    assert_eq!(posted.status, 202, "{}", posted.text);

    // Writing into another tenant is refused, and nothing of the batch is stored.
    let batch = json!([
        {"id": "acme-2", "source": "tests", "type": "doomed"},
        {"id": "sneaky", "source": "tests", "type": "doomed", "tenant": "beta"},
    ])
    .to_string();
    let refused = call(&weir, "POST", "/v1/events", &tokens.acme, &batch);
    assert_error(
        &refused,
        403,
        "forbidden",
        "tenant \"acme\" cannot reach tenant \"beta\"",
    );
    for id in ["acme-2", "sneaky"] {
        let answer = call(&weir, "GET", &format!("/v1/events/{id}"), &tokens.admin, "");
        assert_eq!(answer.status, 404, "{id} was stored");
    }

    // Reading: each tenant its own event, the admin both.
    let own = settled_with(&weir, "acme-1", &tokens.acme);
    assert_eq!(own["tenant"], "acme");
    settled_with(&weir, "beta-1", &tokens.beta);
    // Another tenant's event is not there, so its existence does not leak.
    let foreign = call(&weir, "GET", "/v1/events/beta-1", &tokens.acme, "");
    assert_error(&foreign, 404, "not_found", "no event with id \"beta-1\"");
    assert!(!foreign.text.contains("beta\""), "{}", foreign.text);
    let named = call(
        &weir,
        "GET",
        "/v1/events/beta-1?tenant=beta",
        &tokens.acme,
        "",
    );
    assert_error(&named, 403, "forbidden", "cannot reach tenant \"beta\"");
    // Another tenant's plugin state is refused before the plugin is looked
    // up: the answer is the same whether the plugin exists or not.
    for plugin in ["test-always-fail", "no-such-plugin"] {
        let state = call(
            &weir,
            "GET",
            &format!("/v1/plugins/{plugin}/state?tenant=beta"),
            &tokens.acme,
            "",
        );
        assert_error(&state, 403, "forbidden", "cannot reach tenant \"beta\"");
    }
    assert_eq!(
        call(&weir, "GET", "/v1/events/acme-1", &tokens.admin, "").status,
        200
    );

    // Dead letters: the listing is confined, another tenant's are out of reach.
    let listed = call(&weir, "GET", "/v1/dead-letters", &tokens.acme, "");
    assert_eq!(ids(&listed.body["dead_letters"]), ["acme-1"]);
    let all = call(&weir, "GET", "/v1/dead-letters", &tokens.admin, "");
    assert_eq!(ids(&all.body["dead_letters"]), ["acme-1", "beta-1"]);
    let filtered = call(
        &weir,
        "GET",
        "/v1/dead-letters?tenant=beta",
        &tokens.acme,
        "",
    );
    assert_error(&filtered, 403, "forbidden", "cannot reach tenant \"beta\"");
    let replay = call(
        &weir,
        "POST",
        "/v1/dead-letters/beta-1/replay",
        &tokens.acme,
        "",
    );
    assert_error(&replay, 404, "not_found", "no event with id \"beta-1\"");
    let discard = call(&weir, "DELETE", "/v1/dead-letters/beta-1", &tokens.acme, "");
    assert_error(&discard, 404, "not_found", "no event with id \"beta-1\"");
    let bulk = call(&weir, "POST", "/v1/dead-letters/replay", &tokens.acme, "");
    assert_eq!(bulk.status, 200, "{}", bulk.text);
    assert_eq!(
        bulk.body["replayed"], 1,
        "acme's bulk replay reached beta's letter"
    );
    let still_dead = call(
        &weir,
        "GET",
        "/v1/dead-letters?tenant=beta",
        &tokens.admin,
        "",
    );
    assert_eq!(ids(&still_dead.body["dead_letters"]), ["beta-1"]);

    // Status: a tenant sees its own entry; admin endpoints are the admin's.
    let tenants = call(&weir, "GET", "/v1/tenants", &tokens.acme, "");
    let names: Vec<&Value> = tenants.body["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .map(|t| &t["tenant"])
        .collect();
    assert_eq!(names, [&json!("acme")]);
    for (method, path) in [
        ("GET", "/v1/plugins"),
        ("POST", "/v1/plugins/test-always-fail/pause"),
        ("POST", "/v1/tenants/acme/pause"),
        ("POST", "/v1/replay"),
        ("GET", "/metrics"),
    ] {
        let answer = call(&weir, method, path, &tokens.acme, "{}");
        assert_error(&answer, 403, "forbidden", "needs an admin token");
    }
    assert_eq!(
        call(&weir, "GET", "/v1/plugins", &tokens.admin, "").status,
        200
    );
    let paused = call(&weir, "POST", "/v1/tenants/beta/pause", &tokens.admin, "");
    assert_eq!(paused.status, 200, "{}", paused.text);
}

/// The event once its delivery is dead, read with `token`.
fn settled_with(weir: &Weir, id: &str, token: &str) -> Value {
    weir.wait_for(&format!("{id} to settle"), |weir| {
        let answer = call(weir, "GET", &format!("/v1/events/{id}"), token, "");
        (answer.body["deliveries"][0]["state"] == "dead").then_some(answer.body)
    })
}

fn ids(letters: &Value) -> Vec<String> {
    let mut ids: Vec<String> = letters
        .as_array()
        .expect("a list")
        .iter()
        .map(|letter| letter["id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

/// `POST /v1/routes/explain` shows a tenant the routes that can take its
/// events, not the routes written for other tenants; an admin sees them all.
#[test]
fn explain_shows_a_tenant_only_the_routes_that_can_take_its_events() {
    let (_workspace, weir, tokens) = start_with_tokens();
    let event = json!({"id": "x", "source": "tests", "type": "private"}).to_string();
    let route_names = |token: &str| {
        let answer = call(&weir, "POST", "/v1/routes/explain", token, &event);
        assert_eq!(answer.status, 200, "{}", answer.text);
        answer.body["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .map(|route| route["route"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(route_names(&tokens.acme), ["doomed"]);
    assert_eq!(route_names(&tokens.beta), ["doomed", "beta-private"]);
    assert_eq!(route_names(&tokens.admin), ["doomed", "beta-private"]);
    weir.stop();
}

#[test]
fn without_tokens_anyone_may_call_everything() {
    let workspace = Workspace::new(&["test-always-fail"], ROUTES);
    let weir = workspace.start();
    let event = json!({"id": "open-1", "source": "tests", "type": "doomed"}).to_string();
    assert_eq!(weir.post_json("/v1/events", &event).status, 202);
    assert_eq!(settled_event(&weir, "open-1")["tenant"], "default");
    assert_eq!(weir.get("/v1/plugins").status, 200);
    assert_eq!(weir.get("/metrics").status, 200);
}
