//! `weir routes check`: the start-up checks of the routing table without
//! starting weir, against the plugin directory `weir serve` would use with the
//! same `--data-dir` or `--plugins-dir`; each failure names the route, the
//! plugin and the directory, and exits 1.

use std::path::Path;
use std::process::Command;

use crate::support::Workspace;

/// Routes to the given plugin.
fn route_to(plugin: &str) -> String {
    format!("[[route]]\nname = \"all\"\nmatch = {{ type = \"*\" }}\nplugins = [\"{plugin}\"]\n")
}

/// `weir routes check CONFIG ARGS`: exit code, stdout, stderr.
fn routes_check(config: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
        .args(["routes", "check"])
        .arg(config)
        .args(args)
        .env_remove("WEIR_DATA_DIR")
        .env_remove("WEIR_PLUGINS_DIR")
        .output()
        .expect("run weir");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

#[test]
fn the_data_dir_names_the_plugin_directory_as_it_does_for_serve() {
    // The workspace is a data directory: its plugins folder holds test-ack.
    let workspace = Workspace::new(&["test-ack"], &route_to("test-ack"));
    let config = workspace.path().join("weir.toml");
    let (code, stdout, stderr) = routes_check(&config, &["--data-dir", path(workspace.path())]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stdout.contains("1 route, all reachable, to test-ack")
            && stdout.contains(&format!(
                "every plugin is in {}",
                workspace.path().join("plugins").display()
            )),
        "{stdout}"
    );

    std::fs::write(&config, route_to("test-akc")).expect("write config");
    let (code, _, stderr) = routes_check(&config, &["--data-dir", path(workspace.path())]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(r#"route "all" names plugin "test-akc""#)
            && stderr.contains(&format!(
                "{} has no test-akc.wasm",
                workspace.path().join("plugins").display()
            )),
        "{stderr}"
    );
}

#[test]
fn before_the_first_start_only_the_example_plugins_pass() {
    let workspace = Workspace::new(&[], &route_to("booking-normaliser"));
    let config = workspace.path().join("weir.toml");
    let fresh = workspace.path().join("not-yet");
    let (code, _, stderr) = routes_check(&config, &["--data-dir", path(&fresh)]);
    assert_eq!(code, Some(1), "{stderr}");
    let plugins = fresh.join("plugins");
    assert!(
        stderr.contains(r#"route "all" names plugin "booking-normaliser""#)
            && stderr.contains(&format!("{} does not exist yet", plugins.display()))
            && stderr.contains("booking-normalizer, price-calculator"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    std::fs::write(&config, route_to("booking-normalizer")).expect("write config");
    let (code, stdout, stderr) = routes_check(&config, &["--data-dir", path(&fresh)]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("does not exist yet"), "{stdout}");
    assert!(!fresh.exists(), "a check creates nothing");
}

#[test]
fn a_plugin_directory_that_was_set_and_does_not_exist_is_named() {
    let workspace = Workspace::new(&[], &route_to("test-ack"));
    let config = workspace.path().join("weir.toml");
    let missing = workspace.path().join("no-plugins-here");
    let (code, _, stderr) = routes_check(&config, &["--plugins-dir", path(&missing)]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "the plugin directory {} does not exist",
            missing.display()
        )),
        "{stderr}"
    );
}

#[test]
fn a_missing_config_file_is_named_once() {
    let workspace = Workspace::new(&[], "");
    let missing = workspace.path().join("nowhere.toml");
    let (code, _, stderr) = routes_check(&missing, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot read config file {}", missing.display())),
        "{stderr}"
    );
    assert_eq!(stderr.matches("No such file").count(), 1, "{stderr}");
}
