//! `weir plugin`: a scaffold in each language builds with `weir plugin build`
//! and passes its own test with `weir plugin test`; `weir plugin check`
//! reports on real components; every bad input is named.

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::support::{
    Finished, PLUGIN_SOURCES, built_example, plugin_component, plugin_trial, weir_plugin,
};

/// Where scaffolded Rust plugins build: beside the test build, so their
/// dependencies compile once per machine, not once per run.
fn scaffold_target_dir() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_weir-e2e"));
    binary
        .ancestors()
        .nth(2)
        .expect("the binary is in <target>/debug")
        .join("scaffolds")
}

fn succeeded(run: &Finished, what: &str) {
    assert_eq!(run.code, Some(0), "{what}:\n{}\n{}", run.stdout, run.stderr);
}

fn failed_with(run: &Finished, expected: &str) {
    assert_eq!(
        run.code,
        Some(1),
        "should fail:\n{}\n{}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(expected),
        "expected {expected:?} in:\n{}",
        run.stderr
    );
}

/// `weir plugin new greeter --lang LANG`, built and run on its own test event.
fn scaffold_builds_and_passes_its_own_test(lang: &str) {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().to_string_lossy().into_owned();
    succeeded(
        &weir_plugin(&["new", "greeter", "--lang", lang, "--dir", &dir], &[]),
        "new",
    );
    let folder = parent.path().join("greeter");
    for file in ["README.md", "greeter.toml", "event.json", "build.sh"] {
        assert!(folder.join(file).is_file(), "the scaffold has {file}");
    }
    if lang == "js" {
        // The toolchain `npm install` would fetch, from the example's install.
        let modules = Path::new(PLUGIN_SOURCES).join("booking-normalizer-js/node_modules");
        std::os::unix::fs::symlink(modules, folder.join("node_modules"))
            .expect("link node_modules");
    }
    let target = scaffold_target_dir();
    let envs = [
        ("CARGO_TARGET_DIR", target.to_str().expect("a UTF-8 path")),
        // Tests reach nothing but loopback: the crates come from the local cache.
        ("CARGO_NET_OFFLINE", "true"),
    ];
    let build = weir_plugin(&["build", &folder.to_string_lossy()], &envs);
    succeeded(&build, "build");
    assert!(
        build.stdout.contains("greeter (version "),
        "{}",
        build.stdout
    );
    assert!(
        build.stderr.starts_with("$ "),
        "the build prints its commands: {}",
        build.stderr
    );

    let component = folder.join("greeter.wasm");
    let event = folder.join("event.json");
    let (run, trial) = plugin_trial(&component, &event);
    let emitted = &trial["result"]["events"][0];
    assert_eq!(trial["result"]["outcome"], "emit", "{trial:#}");
    assert_eq!(emitted["type"], "greeting.sent", "{trial:#}");
    assert_eq!(
        emitted["data"],
        json!({"greeting": "Hello, Ada!", "times": 1}),
        "{trial:#}"
    );
    assert_eq!(
        trial["state_writes"],
        json!({"greeted:Ada": 1}),
        "{trial:#}"
    );
    assert!(trial["fuel_consumed"].as_u64() > Some(0), "{trial:#}");
    assert!(
        run.stderr.contains("greeting Ada (time 1)"),
        "the handler's log line: {}",
        run.stderr
    );
}

#[test]
fn a_rust_scaffold_builds_and_passes_its_own_test() {
    scaffold_builds_and_passes_its_own_test("rust");
}

#[test]
fn a_python_scaffold_builds_and_passes_its_own_test() {
    scaffold_builds_and_passes_its_own_test("python");
}

#[test]
fn a_javascript_scaffold_builds_and_passes_its_own_test() {
    scaffold_builds_and_passes_its_own_test("js");
}

#[test]
fn a_c_scaffold_builds_and_passes_its_own_test() {
    scaffold_builds_and_passes_its_own_test("c");
}

#[test]
fn check_lists_imports_and_warns_of_what_weir_will_refuse() {
    let folder = tempfile::tempdir().expect("temp dir");
    let fetch = folder.path().join("test-fetch.wasm");
    std::fs::copy(plugin_component("test-fetch"), &fetch).expect("copy");
    let run = weir_plugin(&["check", &fetch.to_string_lossy()], &[]);
    succeeded(&run, "check");
    assert!(
        run.stdout.contains("test-fetch (version "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("  weir:plugin/handler@0.1.0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "warning: imports wasi:http/outgoing-handler but its manifest requests no hosts"
        ),
        "{}",
        run.stdout
    );
    // The lines to add, as they go in the manifest (no literal `\n`).
    assert!(
        run.stdout
            .contains("\n    [capabilities]\n    http = [\"api.example.com\"]\n")
            && !run.stdout.contains("\\n"),
        "{}",
        run.stdout
    );
    // Requested, the warning goes.
    std::fs::write(
        fetch.with_extension("toml"),
        "[capabilities]\nhttp = [\"127.0.0.1:9\"]\n",
    )
    .expect("write manifest");
    let granted = weir_plugin(&["check", &fetch.to_string_lossy()], &[]);
    succeeded(&granted, "check");
    assert!(!granted.stdout.contains("warning"), "{}", granted.stdout);

    let python = built_example("booking-normalizer-py");
    let run = weir_plugin(&["check", &python.to_string_lossy()], &[]);
    succeeded(&run, "check");
    assert!(
        run.stdout.contains("warning: imports wasi:filesystem/*"),
        "{}",
        run.stdout
    );
}

#[test]
fn bad_plugins_folders_and_events_are_named() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().to_string_lossy().into_owned();
    let path = |name: &str| parent.path().join(name).to_string_lossy().into_owned();

    let bad_name = weir_plugin(&["new", "Bad Name", "--lang", "python", "--dir", &dir], &[]);
    failed_with(&bad_name, "plugin names are lowercase letters");
    succeeded(
        &weir_plugin(&["new", "greeter", "--lang", "python", "--dir", &dir], &[]),
        "new",
    );
    let again = weir_plugin(&["new", "greeter", "--lang", "js", "--dir", &dir], &[]);
    failed_with(&again, "greeter already exists");

    std::fs::create_dir(path("empty")).expect("mkdir");
    failed_with(
        &weir_plugin(&["build", &path("empty")], &[]),
        "is not a plugin folder",
    );

    let nowhere = tempfile::tempdir().expect("temp dir");
    let no_tools = [("PATH", nowhere.path().to_str().expect("UTF-8"))];
    failed_with(
        &weir_plugin(&["build", &path("greeter")], &no_tools),
        "componentize-py is not installed or not on PATH; install it with `pip install componentize-py==0.25.1`",
    );
    std::fs::write(
        parent.path().join("greeter/app.py"),
        "def handle(event) return\n",
    )
    .expect("write");
    failed_with(
        &weir_plugin(&["build", &path("greeter")], &[]),
        "failed (exit status: 1); its output is above",
    );

    succeeded(
        &weir_plugin(&["new", "js-greeter", "--lang", "js", "--dir", &dir], &[]),
        "new",
    );
    failed_with(
        &weir_plugin(&["build", &path("js-greeter")], &[]),
        "run `npm install` in",
    );

    succeeded(
        &weir_plugin(&["new", "c-greeter", "--lang", "c", "--dir", &dir], &[]),
        "new",
    );
    failed_with(
        &weir_plugin(&["build", &path("c-greeter")], &no_tools),
        "zig is not installed or not on PATH; install it with `pip install ziglang==0.17.0`",
    );
    let handler = parent.path().join("c-greeter/handler.c");
    std::fs::write(&handler, "weir_outcome weir_handle(void) { return; }\n").expect("write");
    failed_with(
        &weir_plugin(&["build", &path("c-greeter")], &[]),
        "failed (exit status: 1); its output is above",
    );
    // It compiles, but imports a function weir's world does not have.
    std::fs::write(
        &handler,
        "#include \"weir_plugin.h\"\n\
         __attribute__((import_module(\"env\"), import_name(\"missing\"))) void missing(void);\n\
         weir_outcome weir_handle(const weir_event *e) { (void)e; missing(); return weir_ack(); }\n",
    )
    .expect("write");
    failed_with(
        &weir_plugin(&["build", &path("c-greeter")], &[]),
        "the module cannot be made a component: failed to decode world from module",
    );

    std::fs::write(path("core.wasm"), b"\0asm\x01\0\0\0").expect("write");
    failed_with(
        &weir_plugin(&["check", &path("core.wasm")], &[]),
        "a core WebAssembly module, not a component",
    );
    // An empty component: valid, but it exports no handler.
    std::fs::write(path("empty.wasm"), b"\0asm\x0d\0\x01\0").expect("write");
    failed_with(
        &weir_plugin(&["check", &path("empty.wasm")], &[]),
        "plugin empty (",
    );

    let ack = parent.path().join("test-ack.wasm");
    std::fs::copy(plugin_component("test-ack"), &ack).expect("copy");
    std::fs::write(path("event.json"), "{\"type\": 7}").expect("write");
    failed_with(
        &weir_plugin(
            &[
                "test",
                &ack.to_string_lossy(),
                "--event",
                &path("event.json"),
            ],
            &[],
        ),
        "event.json is not an event",
    );
}

#[test]
fn help_names_every_language_a_plugin_can_be_written_in() {
    for args in [&["--help"][..], &["plugin", "--help"]] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir-e2e"))
            .args(args)
            .output()
            .expect("run weir");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "weir {args:?}: {stdout}");
        assert!(
            stdout.contains("Rust, Python, JavaScript or C"),
            "weir {args:?}:\n{stdout}"
        );
    }
    let new = weir_plugin(&["new", "--help"], &[]);
    // Each value of --lang, with its toolchain.
    assert!(
        ["- rust:", "- python:", "- js:", "- c:"]
            .iter()
            .all(|value| new.stdout.contains(value)),
        "{}",
        new.stdout
    );
}
