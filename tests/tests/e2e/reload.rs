//! Hot reload: a plugin file changed while weir runs is swapped in for new
//! deliveries while running ones finish on their version; a broken file is
//! rejected and the version before it keeps serving; a removed file holds its
//! plugin's deliveries until it is back; a new file adds a plugin.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::recorder::{self, recorded, wait_until_idle};
use crate::support::{Weir, Workspace, delivery, plugin_component, settled_event};

/// Reloads quickly, so the tests do not wait on the default debounce.
const FAST_RELOAD: &str = "[reload]\ndebounce_ms = 50\n";

/// The component `name` with a custom section holding `mark` appended: it
/// behaves the same and has another version.
fn rebuilt(name: &str, mark: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(plugin_component(name)).expect("read component");
    let section_name = b"weir-test";
    let mut content = vec![section_name.len() as u8];
    content.extend_from_slice(section_name);
    content.extend_from_slice(mark.as_bytes());
    assert!(content.len() < 128, "one LEB128 byte of size");
    bytes.push(0); // custom section id
    bytes.push(content.len() as u8);
    bytes.extend_from_slice(&content);
    bytes
}

/// Replaces `path` with `contents` by writing beside it and renaming over it:
/// the way a deploy replaces a file without a reader seeing half of it.
fn replace_file(path: &Path, contents: impl AsRef<[u8]>) {
    let mut staged = path.as_os_str().to_owned();
    staged.push(".part");
    std::fs::write(&staged, contents).expect("write beside the file");
    std::fs::rename(&staged, path).expect("rename over the file");
}

/// Installs `bytes` as plugin `name`.
fn install(workspace: &Workspace, name: &str, bytes: &[u8]) {
    replace_file(
        &workspace.path().join(format!("plugins/{name}.wasm")),
        bytes,
    );
}

/// The plugins an event of type `kind` would reach, from `POST /v1/routes/explain`.
fn routed_to(weir: &Weir, kind: &str) -> Value {
    let event = json!({"id": "probe", "source": "tests", "type": kind, "data": {"n": 1}});
    weir.post_json("/v1/routes/explain", &event.to_string())
        .body["plugins"]
        .clone()
}

/// The `GET /v1/plugins` entry of `name`, if listed.
pub fn plugin_entry(weir: &Weir, name: &str) -> Option<Value> {
    let plugins = weir.get("/v1/plugins").body["plugins"].clone();
    plugins
        .as_array()?
        .iter()
        .find(|plugin| plugin["name"] == name)
        .cloned()
}

/// Why `name`'s file was rejected, once `GET /v1/plugins` says it was.
pub fn rejection_reason(weir: &Weir, name: &str) -> String {
    let rejected = weir.wait_for(&format!("{name} to be rejected"), |weir| {
        let rejected = plugin_entry(weir, name)?["rejected"].clone();
        (!rejected.is_null()).then_some(rejected)
    });
    rejected["reason"].as_str().unwrap_or_default().to_owned()
}

fn version_of(weir: &Weir, name: &str) -> String {
    plugin_entry(weir, name)
        .and_then(|plugin| plugin["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("plugin {name} is not serving"))
}

/// Waits until `name` serves a version other than `old`, and returns it.
fn wait_for_new_version(weir: &Weir, name: &str, old: &str) -> String {
    weir.wait_for(
        &format!("{name} to serve a version other than {old}"),
        |weir| {
            let version = version_of(weir, name);
            (version != old).then_some(version)
        },
    )
}

/// The versions that ran the attempts of `event`'s delivery to `plugin`.
fn attempt_versions(event: &Value, plugin: &str) -> Vec<String> {
    delivery(event, plugin)["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|attempt| attempt["version"].as_str().unwrap_or("none").to_owned())
        .collect()
}

fn post_recorded(weir: &Weir, numbers: std::ops::RangeInclusive<u64>) {
    let events: Vec<Value> = numbers.map(|n| recorder::event(n, None, false)).collect();
    for batch in events.chunks(100) {
        let answer = weir.post_json("/v1/events", &Value::from(batch.to_vec()).to_string());
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
}

#[test]
fn a_plugin_swapped_under_load_runs_every_delivery_once_on_one_version() {
    let config = format!("{FAST_RELOAD}{}", recorder::ROUTE);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let first = version_of(&weir, "test-recorder");

    // A thousand events wait while the plugin is paused, then run as it is swapped.
    let pause = weir.post_json("/v1/plugins/test-recorder/pause", "");
    assert_eq!(pause.status, 200, "{}", pause.text);
    post_recorded(&weir, 1..=1000);
    let resume = weir.post_json("/v1/plugins/test-recorder/resume", "");
    assert_eq!(resume.status, 200, "{}", resume.text);
    weir.wait_for("the first delivery to finish", |weir| {
        (weir.metric(r#"weir_deliveries_processed_total{plugin="test-recorder"}"#) >= 1.0)
            .then_some(())
    });
    install(&workspace, "test-recorder", &rebuilt("test-recorder", "v2"));
    let second = wait_for_new_version(&weir, "test-recorder", &first);
    post_recorded(&weir, 1001..=1200);
    wait_until_idle(&weir);

    let seen = recorded(&weir).seen;
    assert_eq!(seen.len(), 1200, "nothing lost");
    assert!(seen.values().all(|&count| count == 1), "nothing run twice");
    let mut by_version: BTreeMap<String, u64> = BTreeMap::new();
    for n in 1..=1200u64 {
        let event = settled_event(&weir, &format!("rec-{n}"));
        let versions = attempt_versions(&event, "test-recorder");
        assert_eq!(versions.len(), 1, "event {n} ran once: {event}");
        assert!(
            versions[0] == first || versions[0] == second,
            "event {n} ran on {versions:?}, neither {first} nor {second}"
        );
        if n > 1000 {
            assert_eq!(versions[0], second, "event {n} came after the swap");
        }
        *by_version.entry(versions[0].clone()).or_default() += 1;
    }
    assert!(by_version[&first] >= 1, "{by_version:?}");
    assert!(by_version[&second] >= 200, "{by_version:?}");
    assert_eq!(
        weir.metric(r#"weir_plugin_reloads_total{plugin="test-recorder",result="loaded"}"#),
        1.0
    );
    weir.stop();
}

#[test]
fn a_running_delivery_finishes_on_the_version_it_started_on() {
    let config = format!(
        "{FAST_RELOAD}[plugins.test-slow]\ndeadline_ms = 30000\n\n[[route]]\nname = \"slow\"\nmatch = {{ type = \"slow\" }}\nplugins = [\"test-slow\"]\n"
    );
    let workspace = Workspace::new(&["test-slow"], &config);
    let weir = workspace.start();
    let first = version_of(&weir, "test-slow");
    let slow = |id: &str, sleep_ms: u64| {
        json!({"id": id, "source": "tests", "type": "slow", "data": {"sleep_ms": sleep_ms}})
            .to_string()
    };

    assert_eq!(
        weir.post_json("/v1/events", &slow("long", 4000)).status,
        202
    );
    weir.wait_for("the long delivery to start", |weir| {
        (weir.metric(r#"weir_instances_busy{plugin="test-slow"}"#) == 1.0).then_some(())
    });
    install(&workspace, "test-slow", &rebuilt("test-slow", "v2"));
    let second = wait_for_new_version(&weir, "test-slow", &first);
    assert_eq!(weir.post_json("/v1/events", &slow("short", 0)).status, 202);

    let long = settled_event(&weir, "long");
    let short = settled_event(&weir, "short");
    assert_eq!(attempt_versions(&long, "test-slow"), vec![first]);
    assert_eq!(attempt_versions(&short, "test-slow"), vec![second]);
    weir.stop();
}

#[test]
fn broken_files_are_rejected_and_the_version_before_keeps_serving() {
    let config = format!("{FAST_RELOAD}{}", recorder::ROUTE);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let serving = version_of(&weir, "test-recorder");
    let component = std::fs::read(plugin_component("test-recorder")).expect("read");

    let broken: [(&str, Vec<u8>, &str); 4] = [
        (
            "garbage",
            b"this is not WebAssembly".to_vec(),
            "not a WebAssembly file",
        ),
        (
            "truncated",
            component[..component.len() / 2].to_vec(),
            "cannot be loaded",
        ),
        // A core module, not a component.
        (
            "core module",
            b"\0asm\x01\0\0\0".to_vec(),
            "not a component",
        ),
        // A valid component of another world: it exports no handler.
        ("wrong world", b"\0asm\x0d\0\x01\0".to_vec(), "handler"),
    ];
    let mut last_rejected = Value::Null;
    for (n, (what, bytes, expected)) in (1u64..).zip(broken) {
        install(&workspace, "test-recorder", &bytes);
        let rejected = weir.wait_for(&format!("the {what} file to be rejected"), |weir| {
            let rejected = plugin_entry(weir, "test-recorder")?["rejected"].clone();
            (!rejected.is_null() && rejected != last_rejected).then_some(rejected)
        });
        let reason = rejected["reason"].as_str().unwrap_or_default();
        assert!(reason.contains("test-recorder.wasm"), "{what}: {reason}");
        assert!(reason.contains(expected), "{what}: {reason}");
        let plugin = plugin_entry(&weir, "test-recorder").expect("still listed");
        assert_eq!(plugin["state"], "serving", "{what}: {plugin}");
        assert_eq!(plugin["version"], serving.as_str(), "{what}: {plugin}");

        let answer = weir.post_json("/v1/events", &recorder::event(n, None, false).to_string());
        assert_eq!(answer.status, 202, "{}", answer.text);
        let event = settled_event(&weir, &format!("rec-{n}"));
        assert_eq!(
            attempt_versions(&event, "test-recorder"),
            vec![serving.clone()]
        );
        last_rejected = rejected;
    }
    assert_eq!(
        weir.metric(r#"weir_plugin_reloads_total{plugin="test-recorder",result="rejected"}"#),
        4.0
    );

    // A good file again: loaded, and the rejection is gone.
    install(
        &workspace,
        "test-recorder",
        &rebuilt("test-recorder", "fixed"),
    );
    wait_for_new_version(&weir, "test-recorder", &serving);
    let plugin = plugin_entry(&weir, "test-recorder").expect("listed");
    assert!(plugin["rejected"].is_null(), "{plugin}");
    weir.stop();
}

#[test]
fn a_removed_plugin_holds_its_deliveries_until_it_is_back() {
    let config = format!("{FAST_RELOAD}{}", recorder::ROUTE);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let file = workspace.path().join("plugins/test-recorder.wasm");
    let bytes = std::fs::read(&file).expect("read");

    std::fs::remove_file(&file).expect("remove");
    weir.wait_for("the plugin to show as removed", |weir| {
        (plugin_entry(weir, "test-recorder")?["state"] == "removed").then_some(())
    });
    post_recorded(&weir, 1..=50);
    // Long enough for a worker that (wrongly) still ran to take some.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        recorded(&weir).seen.is_empty(),
        "nothing runs while removed"
    );
    assert_eq!(
        weir.metric(r#"weir_queue_depth{plugin="test-recorder"}"#),
        50.0
    );

    install(&workspace, "test-recorder", &bytes);
    wait_until_idle(&weir);
    let seen = recorded(&weir).seen;
    assert_eq!(seen.len(), 50, "every held delivery ran once it was back");
    assert_eq!(
        plugin_entry(&weir, "test-recorder").expect("listed")["state"],
        "serving"
    );
    weir.stop();
}

#[test]
fn a_new_file_adds_a_plugin_and_a_manifest_edit_changes_its_limits() {
    let workspace = Workspace::new(&["test-recorder"], FAST_RELOAD);
    let weir = workspace.start();
    let plugins = workspace.path().join("plugins");

    install(
        &workspace,
        "added",
        &std::fs::read(plugin_component("test-slow")).expect("test-slow"),
    );
    // Listed as `loading` while it compiles, then serving.
    let added = weir.wait_for("the new plugin to be loaded", |weir| {
        plugin_entry(weir, "added").filter(|plugin| plugin["state"] != "loading")
    });
    assert_eq!(added["state"], "serving", "{added}");
    assert_eq!(added["deadline_ms"], 5000, "the default: {added}");

    write_manifest(&plugins, "added", "deadline_ms = 1234\n");
    let edited = weir.wait_for("the manifest edit to load", |weir| {
        let plugin = plugin_entry(weir, "added")?;
        (plugin["deadline_ms"] == 1234).then_some(plugin)
    });
    assert_eq!(edited["version"], added["version"], "the same component");

    write_manifest(&plugins, "added", "deadline_ms = 1234\nfuell = 5\n");
    let reason = rejection_reason(&weir, "added");
    assert!(
        reason.contains("added.toml") && reason.contains("fuell"),
        "{reason}"
    );
    assert_eq!(
        plugin_entry(&weir, "added").expect("listed")["deadline_ms"],
        1234,
        "the version before keeps serving"
    );
    weir.stop();
}

fn write_manifest(plugins: &Path, name: &str, text: &str) {
    replace_file(&plugins.join(format!("{name}.toml")), text);
}

#[test]
fn an_edited_routing_table_is_swapped_in_and_a_broken_one_rejected() {
    let config = format!("{FAST_RELOAD}{}", recorder::ROUTE);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let probe = json!({"id": "probe", "source": "tests", "type": "recorded.v2", "data": {"n": 1}});
    let routed = |weir: &Weir| routed_to(weir, "recorded.v2");
    assert_eq!(routed(&weir), json!([]), "not routed yet");

    let edit = |text: &str| replace_file(&workspace.path().join("weir.toml"), text);
    edit(&config.replace("type = \"recorded\"", "type = \"recorded*\""));
    weir.wait_for("the edited table to serve", |weir| {
        (routed(weir) == json!(["test-recorder"])).then_some(())
    });
    let answer = weir.post_json("/v1/events", &probe.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    wait_until_idle(&weir);
    assert_eq!(recorded(&weir).seen.len(), 1, "routed by the new table");

    let rejected = r#"weir_route_reloads_total{result="rejected"}"#;
    for (n, broken) in [
        (
            1.0,
            config.replace("type = \"recorded\"", "type = \"recorded[\""),
        ),
        (
            2.0,
            config.replace("plugins = [\"test-recorder\"]", "plugins = [\"nobody\"]"),
        ),
    ] {
        edit(&broken);
        weir.wait_for("the broken table to be rejected", |weir| {
            (weir.metric(rejected) == n).then_some(())
        });
        assert_eq!(
            routed(&weir),
            json!(["test-recorder"]),
            "the table before keeps serving"
        );
    }
    assert_eq!(
        weir.metric(r#"weir_route_reloads_total{result="loaded"}"#),
        1.0
    );
    weir.stop();
}

#[test]
fn routes_in_routes_toml_are_loaded_and_reloaded() {
    let workspace = Workspace::new(&["test-recorder"], FAST_RELOAD);
    std::fs::write(workspace.path().join("routes.toml"), recorder::ROUTE).expect("routes.toml");
    let weir = workspace.start();
    let probe = |kind: &str| routed_to(&weir, kind);
    assert_eq!(probe("recorded"), json!(["test-recorder"]), "read at start");

    replace_file(
        &workspace.path().join("routes.toml"),
        recorder::ROUTE.replace("\"recorded\"", "\"recorded.v3\""),
    );
    weir.wait_for("the edited routes.toml to serve", |_| {
        (probe("recorded.v3") == json!(["test-recorder"])).then_some(())
    });
    assert_eq!(probe("recorded"), json!([]), "the old route is gone");
    weir.stop();
}

/// A Kubernetes ConfigMap mount: `weir.toml` is a symlink into `..data`, itself
/// a symlink to a versioned directory, and an update swaps `..data` only.
#[cfg(unix)]
#[test]
fn a_config_map_style_symlink_swap_reloads_the_routes() {
    use std::os::unix::fs::symlink;

    let workspace = Workspace::new(&["test-recorder"], "");
    let root = workspace.path();
    let version = |name: &str, routes: &str| {
        std::fs::create_dir(root.join(name)).expect("version dir");
        std::fs::write(
            root.join(name).join("weir.toml"),
            format!("{FAST_RELOAD}{routes}"),
        )
        .expect("config");
    };
    version("..v1", recorder::ROUTE);
    std::fs::remove_file(root.join("weir.toml")).expect("remove the plain file");
    symlink("..v1", root.join("..data")).expect("..data");
    symlink("..data/weir.toml", root.join("weir.toml")).expect("weir.toml");
    let weir = workspace.start();
    let probe = |kind: &str| routed_to(&weir, kind);
    assert_eq!(probe("recorded"), json!(["test-recorder"]));

    version(
        "..v2",
        &recorder::ROUTE.replace("\"recorded\"", "\"recorded.k8s\""),
    );
    symlink("..v2", root.join("..data_tmp")).expect("..data_tmp");
    std::fs::rename(root.join("..data_tmp"), root.join("..data")).expect("swap ..data");
    weir.wait_for("the swapped config to serve", |_| {
        (probe("recorded.k8s") == json!(["test-recorder"])).then_some(())
    });
    weir.stop();
}

#[test]
fn a_table_naming_a_plugin_not_yet_loaded_serves_once_the_plugin_arrives() {
    let config = format!("{FAST_RELOAD}{}", recorder::ROUTE);
    let workspace = Workspace::new(&["test-recorder"], &config);
    let weir = workspace.start();
    let routed = |weir: &Weir| routed_to(weir, "late");

    let late_route =
        "\n[[route]]\nname = \"late\"\nmatch = { type = \"late\" }\nplugins = [\"late\"]\n";
    replace_file(
        &workspace.path().join("weir.toml"),
        format!("{config}{late_route}"),
    );
    weir.wait_for("the table naming a missing plugin to be rejected", |weir| {
        (weir.metric(r#"weir_route_reloads_total{result="rejected"}"#) == 1.0).then_some(())
    });
    assert_eq!(routed(&weir), json!([]));

    install(
        &workspace,
        "late",
        &std::fs::read(plugin_component("test-slow")).expect("test-slow"),
    );
    weir.wait_for("the table to serve once its plugin is loaded", |weir| {
        (routed(weir) == json!(["late"])).then_some(())
    });
    weir.stop();
}

/// A plugin file that is a symlink is reloaded when the file it points to
/// changes, though nothing changes in the plugin directory itself.
#[test]
fn a_symlinked_plugin_is_reloaded_when_its_target_changes() {
    let workspace = Workspace::new(&[], FAST_RELOAD);
    let elsewhere = workspace.path().join("builds");
    std::fs::create_dir(&elsewhere).expect("create the build directory");
    let target = elsewhere.join("test-recorder.wasm");
    std::fs::write(&target, rebuilt("test-recorder", "linked-1")).expect("write the build");
    std::os::unix::fs::symlink(&target, workspace.path().join("plugins/test-recorder.wasm"))
        .expect("link the plugin file");
    let weir = workspace.start();
    let first = weir.wait_for("the linked plugin to load", |weir| {
        plugin_entry(weir, "test-recorder")
            .and_then(|plugin| plugin["version"].as_str().map(str::to_owned))
    });

    replace_file(&target, rebuilt("test-recorder", "linked-2"));
    let second = wait_for_new_version(&weir, "test-recorder", &first);
    assert_ne!(first, second);
    weir.wait_for_log("the linked directory to be watched", |log| {
        log.contains("watching for changes too: a plugin file links into it")
    });
    weir.stop();
}
