//! The example pipeline's routes apply when no file names a route and the
//! example plugins are installed (a config file with only a `[storage]`
//! section, say); a plugin directory of the operator's own plugins starts
//! with no routes, and the log says how to add some.

use crate::booking_com;
use crate::support::{Weir, Workspace, delivery, settled_event};

/// `weir serve` on `workspace` with its config file and data directory,
/// and the default plugin directory (`DATA/plugins`).
fn serve_args(workspace: &Workspace, config: bool) -> Vec<String> {
    let mut args = vec!["serve".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
    if config {
        args.push("--config".into());
        args.push(workspace.path().join("weir.toml").display().to_string());
    }
    args.push("--data-dir".into());
    args.push(workspace.path().join("data").display().to_string());
    args
}

#[test]
fn a_config_file_without_routes_keeps_the_example_pipeline() {
    let workspace = Workspace::new(&[], "[queue]\ndurability = \"buffered\"\n");
    let weir = Weir::start(&serve_args(&workspace, true), &[], workspace.path());
    weir.wait_for_log(
        "the log to name the routes in force and where they came from",
        |log| {
            log.contains("routes in force")
                && log.contains("the example pipeline")
                && log.contains("normalize-bookings")
        },
    );
    let routes = weir.get("/v1/routes").body;
    let source = routes["source"].as_str().unwrap_or_default();
    assert!(source.starts_with("the example pipeline"), "{routes:#}");
    assert_eq!(
        routes["routes"][0]["name"], "normalize-bookings",
        "{routes:#}"
    );
    let body = booking_com("examples-1", 1, "L1").to_string();
    assert_eq!(weir.post_json("/v1/events", &body).status, 202);
    let event = settled_event(&weir, "examples-1");
    assert_eq!(
        delivery(&event, "booking-normalizer")["state"],
        "done",
        "{event:#}"
    );
    weir.stop();
}

#[test]
fn own_plugins_without_routes_start_with_no_routes_and_a_hint() {
    let workspace = Workspace::new(&[], "");
    let own = workspace.path().join("data/plugins");
    std::fs::create_dir_all(&own).expect("plugins dir");
    std::fs::copy(
        crate::support::plugin_component("test-ack"),
        own.join("my-handler.wasm"),
    )
    .expect("copy the plugin");
    let weir = Weir::start(&serve_args(&workspace, false), &[], workspace.path());
    let plugins = weir.get("/v1/plugins").body;
    assert_eq!(plugins["plugins"][0]["name"], "my-handler", "{plugins:#}");
    assert_eq!(plugins["plugins"].as_array().map(Vec::len), Some(1));
    weir.wait_for_log("the log to say how to add routes", |log| {
        log.contains("no routes are configured") && log.contains("weir routes check")
    });
    let body = booking_com("unrouted-1", 1, "L1").to_string();
    assert_eq!(weir.post_json("/v1/events", &body).status, 202);
    let event = weir.get("/v1/events/unrouted-1").body;
    assert_eq!(event["deliveries"], serde_json::json!([]), "{event:#}");
    weir.stop();
}
