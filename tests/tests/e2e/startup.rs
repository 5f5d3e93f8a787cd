//! A bad config or plugin directory stops weir at start-up with a message that
//! names what to fix. (A broken plugin file or manifest does not: it is rejected while
//! the others serve, see `plugin_loading.rs`.)

use crate::EXAMPLE_ROUTES;
use crate::support::{Workspace, run_to_exit};

fn start_fails_with(workspace: &Workspace, expected: &[&str]) {
    let (code, stderr) = run_to_exit(&workspace.serve_args(), &[], workspace.path());
    assert_eq!(code, Some(1), "weir should refuse to start: {stderr}");
    for text in expected {
        assert!(
            stderr.contains(text),
            "stderr should mention {text:?}:\n{stderr}"
        );
    }
}

#[test]
fn an_unknown_config_key_is_named_with_its_file() {
    let workspace = Workspace::new(&[], "[ingest]\nmax_body_byte = 10\n");
    start_fails_with(&workspace, &["weir.toml", "max_body_byte"]);
}

#[test]
fn a_route_to_a_missing_plugin_is_named() {
    let workspace = Workspace::new(&["booking-normalizer"], EXAMPLE_ROUTES);
    start_fails_with(&workspace, &["price-on-booking", "price-calculator"]);
}

#[test]
fn a_bad_plugin_file_name_is_named() {
    let workspace = Workspace::new(&[], "");
    std::fs::copy(
        crate::support::plugin_component("test-always-fail"),
        workspace.path().join("plugins/Not Valid.wasm"),
    )
    .expect("copy");
    start_fails_with(&workspace, &["Not Valid.wasm", "lowercase"]);
}

#[test]
fn a_bad_route_is_named() {
    let workspace = Workspace::new(
        &[],
        "[[route]]\nname = \"typo\"\nmatch = { type = \"a[\" }\nplugins = [\"x\"]\n",
    );
    start_fails_with(&workspace, &["typo", "glob"]);
}

#[test]
fn weir_config_names_the_config_file() {
    let workspace = Workspace::new(&[], "");
    let config = workspace.path().join("from-env.toml");
    std::fs::write(&config, "[dispatch]\nmax_hop = 3\n").expect("write");
    let args = [
        "serve".to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
    ];
    let (code, stderr) = run_to_exit(&args, &[("WEIR_CONFIG", &config)], workspace.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("from-env.toml") && stderr.contains("max_hop"),
        "{stderr}"
    );
}

#[test]
fn a_route_that_can_never_be_reached_is_named_with_the_route_before_it() {
    let config = r#"
[[route]]
name = "every booking"
match = { type = "booking.*" }
plugins = ["booking-normalizer"]
stop = true

[[route]]
name = "acme bookings"
match = { type = "booking.*", tenant = "acme" }
plugins = ["booking-normalizer"]
"#;
    let workspace = Workspace::new(&["booking-normalizer"], config);
    start_fails_with(
        &workspace,
        &["acme bookings", "every booking", "never reached"],
    );
}

#[test]
fn a_missing_config_file_is_named_once() {
    let workspace = Workspace::new(&[], "");
    let missing = workspace.path().join("nowhere.toml");
    let args = [
        "serve".to_owned(),
        "--listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--config".to_owned(),
        missing.display().to_string(),
    ];
    let (code, stderr) = run_to_exit(&args, &[], workspace.path());
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "weir: cannot read config file {}: No such file or directory (os error 2)",
            missing.display()
        )
    );

    // With JSON logs, the one line is a JSON log line.
    let (code, stderr) = run_to_exit(
        &args,
        &[("WEIR_LOG_FORMAT", std::path::Path::new("json"))],
        workspace.path(),
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let line: serde_json::Value = serde_json::from_str(&stderr).expect("a JSON log line");
    assert_eq!(line["level"], "ERROR", "{stderr}");
    assert!(
        line["fields"]["message"]
            .as_str()
            .is_some_and(|message| message.contains(&missing.display().to_string())),
        "{stderr}"
    );
}

#[test]
fn a_second_weir_on_the_same_data_directory_is_told_so_once() {
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    let first = workspace.start();
    let (code, stderr) = run_to_exit(&workspace.serve_args(), &[], workspace.path());
    assert_eq!(code, Some(1), "{stderr}");
    let said = format!(
        "another weir process holds {}",
        workspace.path().join("data").display()
    );
    assert_eq!(stderr.matches(&said).count(), 1, "{stderr}");
    assert!(!stderr.contains("Locked"), "{stderr}");
    assert!(
        !stderr.contains("ERROR"),
        "said once, not logged too: {stderr}"
    );
    // The first one is unharmed.
    assert_eq!(first.get("/readyz").status, 200);
    first.stop();
}

/// The compilation cache in the data directory is native code weir runs: a
/// data directory, or cache, that other users can write is refused, and a
/// new one is created private.
#[test]
fn a_data_directory_others_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    let data = workspace.path().join("data");
    let cache = data.join("cache");
    for (dir, loose) in [(&data, 0o777), (&cache, 0o775)] {
        std::fs::create_dir_all(dir).expect("create");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(loose)).expect("chmod");
        start_fails_with(
            &workspace,
            &[
                &format!("{} is writable by other users", dir.display()),
                "chmod go-w",
            ],
        );
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::remove_dir_all(&data).expect("remove");
    let weir = workspace.start();
    assert_eq!(mode(&data), 0o700, "a new data directory is private");
    weir.stop();
}

/// `weir serve` gives freed memory back to the system after 10 ms (it
/// starts itself again in place with mimalloc's purge delay set), and keeps
/// an operator's own setting.
#[test]
fn weir_serves_with_mimallocs_purge_delay_at_10_ms_unless_the_operator_set_one() {
    let workspace = Workspace::new(&["test-ack"], crate::support::ACK_EVERYTHING);
    // Where the test runner sets a delay of its own, weir keeps that one.
    let inherited = std::env::var("MIMALLOC_PURGE_DELAY").ok();
    let default = match inherited.filter(|delay| !delay.is_empty()) {
        Some(delay) => format!("MIMALLOC_PURGE_DELAY={delay}"),
        None => "MIMALLOC_PURGE_DELAY=10".to_owned(),
    };
    for (envs, expected) in [
        (vec![], default.as_str()),
        (
            vec![("MIMALLOC_PURGE_DELAY", "250")],
            "MIMALLOC_PURGE_DELAY=250",
        ),
    ] {
        let weir = workspace.start_with_env(&envs);
        // The environment the running process was started with, last.
        let environ = std::fs::read(format!("/proc/{}/environ", weir.pid()))
            .expect("the process's environment");
        let delays: Vec<&[u8]> = (environ.split(|&byte| byte == 0))
            .filter(|variable| variable.starts_with(b"MIMALLOC_PURGE_DELAY="))
            .collect();
        assert_eq!(delays, [expected.as_bytes()], "{envs:?}");
        assert_eq!(weir.get("/readyz").status, 200);
        weir.stop();
    }
}
