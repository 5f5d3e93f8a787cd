//! A plugin's manifest (`NAME.toml` beside `NAME.wasm`) sets its limits and
//! config values; the operator's `weir.toml` overrides it key by key, and
//! its `[plugin_limits]` are maxima a manifest cannot go past. Each plugin is
//! shown with the version (content hash) of its component.

use serde_json::json;

use crate::recorder::{self, recorded, wait_until_idle};
use crate::reload::{plugin_entry, rejection_reason};
use crate::support::Workspace;

#[test]
fn a_manifest_sets_the_plugins_limits_and_weir_toml_has_the_last_word() {
    let config = format!(
        "[plugins.test-recorder]\nmax_attempts = 3\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder"], &config);
    std::fs::write(
        workspace.path().join("plugins/test-recorder.toml"),
        "# The recorder's own needs.\ninstances = 2\ndeadline_ms = 700\nmax_attempts = 7\n",
    )
    .expect("write manifest");
    let weir = workspace.start();

    let plugin = &weir.get("/v1/plugins").body["plugins"][0];
    assert_eq!(plugin["instances"], 2, "from the manifest: {plugin}");
    assert_eq!(plugin["deadline_ms"], 700, "from the manifest: {plugin}");
    assert_eq!(plugin["max_attempts"], 3, "weir.toml wins: {plugin}");
    let events = json!([
        recorder::event(1, None, false),
        recorder::event(2, None, false)
    ]);
    assert_eq!(
        weir.post_json("/v1/events", &events.to_string()).status,
        202
    );
    wait_until_idle(&weir);
    assert_eq!(recorded(&weir).seen.len(), 2);
    weir.stop();
}

#[test]
fn each_plugin_shows_the_version_of_its_component() {
    let workspace = Workspace::with_named_plugins(
        &[
            ("test-recorder", "first"),
            ("test-recorder", "second"),
            ("test-slow", "other"),
        ],
        "",
    );
    let weir = workspace.start();
    let plugins = weir.get("/v1/plugins").body["plugins"].clone();
    let field = |name: &str, key: &str| -> String {
        let plugin = plugins
            .as_array()
            .and_then(|all| all.iter().find(|p| p["name"] == name))
            .unwrap_or_else(|| panic!("no plugin {name} in {plugins}"));
        plugin[key]
            .as_str()
            .unwrap_or_else(|| panic!("{name}.{key}: {plugin}"))
            .to_owned()
    };
    let version = field("first", "version");
    assert_eq!(version.len(), 24, "{version}");
    assert!(version.bytes().all(|b| b.is_ascii_hexdigit()), "{version}");
    assert_eq!(
        field("second", "version"),
        version,
        "the same bytes, the same version"
    );
    assert_ne!(
        field("other", "version"),
        version,
        "other bytes, another version"
    );
    assert!(
        field("first", "loaded_at").ends_with('Z'),
        "RFC 3339 in UTC"
    );
    weir.stop();
}

#[test]
fn a_manifest_asking_for_more_than_the_maxima_is_refused_and_the_others_serve() {
    let config = format!(
        "[plugin_limits]\ninstances = 8\n[plugins.test-recorder]\ninstances = 8\n{}",
        recorder::ROUTE
    );
    let workspace = Workspace::new(&["test-recorder", "test-ack"], &config);
    let plugins = workspace.path().join("plugins");
    std::fs::write(plugins.join("test-ack.toml"), "memory_bytes = 1073741824\n")
        .expect("write manifest");
    // weir.toml's 8 instances win over the manifest's 64, which is no excess.
    std::fs::write(plugins.join("test-recorder.toml"), "instances = 64\n").expect("write manifest");
    let weir = workspace.start();

    let reason = rejection_reason(&weir, "test-ack");
    assert!(
        reason.contains("test-ack.toml")
            && reason.contains("memory_bytes = 1073741824 is above the maximum of 536870912")
            && reason.contains("[plugin_limits] memory_bytes"),
        "{reason}"
    );
    let recorder = plugin_entry(&weir, "test-recorder").expect("listed");
    assert_eq!(recorder["state"], "serving", "{recorder}");
    assert_eq!(recorder["instances"], 8, "{recorder}");
    let events = json!([recorder::event(1, None, false)]);
    assert_eq!(
        weir.post_json("/v1/events", &events.to_string()).status,
        202
    );
    wait_until_idle(&weir);
    assert_eq!(recorded(&weir).seen.len(), 1);
    weir.stop();
}
