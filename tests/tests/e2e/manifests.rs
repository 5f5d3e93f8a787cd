//! A plugin's manifest (`NAME.toml` beside `NAME.wasm`) sets its limits and
//! config values; the operator's `weir.toml` overrides it key by key.

use serde_json::json;

use crate::recorder::{self, recorded, wait_until_idle};
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
