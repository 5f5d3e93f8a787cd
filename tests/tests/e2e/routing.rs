//! The routing table seen from outside: `GET /v1/routes` lists the table in
//! force, explain shows where an event would go and why without storing it,
//! and `[routing] unmatched = "reject"` refuses events no route matches.

use serde_json::json;

use crate::support::{Workspace, run_to_exit};

const ROUTES: &str = r#"
[[route]]
name = "eu bookings"
match = { type = "booking.*", attributes = { region = { one_of = ["eu", "uk"] } } }
plugins = ["booking-normalizer"]
stop = true

[[route]]
name = "other bookings"
match = { type = "booking.*" }
plugins = ["price-calculator"]
"#;

#[test]
fn the_routes_in_force_are_listed_with_their_file_and_line() {
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], ROUTES);
    let weir = workspace.start();
    let answer = weir.get("/v1/routes");
    assert_eq!(answer.status, 200, "{}", answer.text);
    let listed = &answer.body;
    let config = workspace.path().join("weir.toml");
    assert_eq!(listed["source"], json!(config.display().to_string()));
    assert!(listed["loaded_at"].is_string(), "{listed:#}");
    let routes = listed["routes"].as_array().expect("a list of routes");
    assert_eq!(routes.len(), 2, "{listed:#}");
    assert_eq!(routes[0]["name"], "eu bookings");
    assert_eq!(routes[0]["line"], 3, "the line of its `name`: {listed:#}");
    assert_eq!(routes[0]["match"]["type"], "booking.*");
    assert_eq!(
        routes[0]["match"]["attributes"]["region"]["one_of"],
        json!(["eu", "uk"])
    );
    assert_eq!(routes[0]["stop"], true);
    assert_eq!(routes[1]["name"], "other bookings");
    assert_eq!(routes[1]["line"], 9);
    assert_eq!(routes[1]["plugins"], json!(["price-calculator"]));
    weir.stop();
}

#[test]
fn explain_shows_each_route_verdict_and_stores_nothing() {
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], ROUTES);
    let weir = workspace.start();
    let event = json!({"id": "explained", "source": "tests", "type": "booking.created",
                       "region": "uk", "data": {}});

    let answer = weir.post_json("/v1/routes/explain", &event.to_string());
    assert_eq!(answer.status, 200, "{}", answer.text);
    let explained = &answer.body;
    assert_eq!(
        explained["plugins"],
        json!(["booking-normalizer"]),
        "{explained}"
    );
    let eu = &explained["routes"][0];
    assert_eq!(eu["matched"], true, "{eu}");
    let region = &eu["conditions"][1];
    assert_eq!(region["attribute"], "region", "{region}");
    assert_eq!(region["actual"], "uk", "{region}");
    assert_eq!(region["holds"], true, "{region}");
    let other = &explained["routes"][1];
    assert_eq!(other["matched"], true, "{other}");
    assert_eq!(
        other["stopped_by"], "eu bookings",
        "cut off by the stop: {other}"
    );

    let elsewhere = json!({"id": "e2", "source": "tests", "type": "booking.created", "data": {}});
    let answer = weir.post_json("/v1/routes/explain", &elsewhere.to_string());
    assert_eq!(
        answer.body["plugins"],
        json!(["price-calculator"]),
        "{}",
        answer.text
    );
    assert_eq!(answer.body["routes"][0]["conditions"][1]["holds"], false);

    let unrouted = json!({"id": "e3", "source": "tests", "type": "refund.created", "data": {}});
    let answer = weir.post_json("/v1/routes/explain", &unrouted.to_string());
    assert_eq!(answer.body["plugins"], json!([]), "{}", answer.text);
    assert_eq!(answer.body["unmatched"], "kept with no deliveries");

    assert_eq!(
        weir.get("/v1/events/explained").status,
        404,
        "nothing stored"
    );
    let bad = weir.post_json("/v1/routes/explain", "{\"id\": 1}");
    assert_eq!(bad.status, 400, "{}", bad.text);
    weir.stop();
}

#[test]
fn unmatched_events_are_refused_when_the_table_says_so() {
    let config = format!("[routing]\nunmatched = \"reject\"\n{ROUTES}");
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], &config);
    let weir = workspace.start();
    let batch = json!([
        {"id": "routed", "source": "tests", "type": "booking.created", "data": {}},
        {"id": "stray", "source": "tests", "type": "refund.created", "data": {}},
    ]);

    let answer = weir.post_json("/v1/events", &batch.to_string());
    assert_eq!(answer.status, 422, "{}", answer.text);
    assert_eq!(answer.body["error"]["code"], "unrouted");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("stray") && message.contains("refund.created"),
        "{message}"
    );
    assert_eq!(
        weir.get("/v1/events/routed").status,
        404,
        "the whole batch is refused"
    );

    let routed = json!({"id": "routed", "source": "tests", "type": "booking.created", "data": {}});
    assert_eq!(
        weir.post_json("/v1/events", &routed.to_string()).status,
        202
    );
    weir.stop();
}

#[test]
fn routes_check_reports_what_start_up_would_refuse() {
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], ROUTES);
    let check = |config: &str| {
        let file = workspace.path().join("check.toml");
        std::fs::write(&file, config).expect("write config");
        let args = [
            "routes".to_owned(),
            "check".to_owned(),
            file.display().to_string(),
            "--plugins-dir".to_owned(),
            workspace.path().join("plugins").display().to_string(),
        ];
        run_to_exit(&args, &[], workspace.path())
    };

    let (code, stderr) = check(ROUTES);
    assert_eq!(code, Some(0), "a valid table passes: {stderr}");

    let shadowed = ROUTES.replace(
        "match = { type = \"booking.*\" }",
        "match = { type = \"booking.*\", attributes = { region = { one_of = [\"eu\", \"uk\"] } } }",
    );
    let (code, stderr) = check(&shadowed);
    assert_eq!(code, Some(1), "{stderr}");
    for named in [
        "check.toml",
        "other bookings",
        "eu bookings",
        "never reached",
    ] {
        assert!(stderr.contains(named), "{named:?} in {stderr}");
    }

    let (code, stderr) = check(&ROUTES.replace("price-calculator", "pricer"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("other bookings") && stderr.contains("pricer"),
        "{stderr}"
    );
}
