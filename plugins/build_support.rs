// Builds weir's plugins as WebAssembly components from a build script.
//
// Not a crate: a build script includes it with
// `include!("../plugins/build_support.rs");` and calls `build_plugins(&[..])`.

/// Variables the outer build sets that would leak into the nested one.
///
/// These change what cargo does: `CARGO_ENCODED_RUSTFLAGS`/`RUSTFLAGS` are the
/// outer build's flags for the host (coverage, `target-cpu=native`, ...);
/// `RUSTC_WRAPPER`/`RUSTC_WORKSPACE_WRAPPER` (clippy-driver under `cargo clippy`);
/// `CARGO_TARGET_DIR`/`CARGO_BUILD_TARGET` (also overridden by our flags). The rest
/// only describe the outer build script; cargo ignores them, but the nested build
/// scripts should not see stale values either.
const OUTER_BUILD_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_CRATE_NAME",
    "TARGET",
    "HOST",
    "OUT_DIR",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
    "RUSTC_LINKER",
];
/// Prefixes of the per-package variables cargo sets for the outer build script.
const OUTER_BUILD_PREFIXES: &[&str] = &[
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
];

/// Builds the plugins `names` (folders under `<root>/plugins/`) for
/// `wasm32-wasip2` with the `plugin` profile and returns the directory holding
/// `<name>.wasm` for each, already a component.
///
/// The nested cargo uses its own target dir, `<target dir>/plugins`, so it never
/// waits on the outer build's lock, and it keeps `CARGO_MAKEFLAGS`, so it shares
/// the outer build's job slots. A failure fails the build with cargo's stderr.
fn build_plugins(names: &[&str]) -> std::path::PathBuf {
    use std::path::PathBuf;

    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let root = manifest_dir
        .parent()
        .expect("the crate is inside the workspace")
        .to_path_buf();
    // Beside the outer build's artifacts, so a CI cache of the target dir keeps it too.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| if dir.is_absolute() { dir } else { root.join(dir) })
        .unwrap_or_else(|| root.join("target"))
        .join("plugins");

    let mut inputs = [
        "wit",
        "plugin-sdk/src",
        "plugin-sdk/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
    ]
    .map(String::from)
    .to_vec();
    for name in names {
        inputs.push(format!("plugins/{name}/src"));
        inputs.push(format!("plugins/{name}/Cargo.toml"));
    }
    for input in inputs {
        println!("cargo:rerun-if-changed={}", root.join(input).display());
    }

    ensure_wasm_target();
    let mut cargo =
        std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(&root);
    cargo.args([
        "build",
        "--locked",
        "--profile",
        "plugin",
        "--target",
        "wasm32-wasip2",
        "--target-dir",
    ]);
    cargo.arg(&target_dir);
    for name in names {
        cargo.args(["-p", name]);
    }
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if OUTER_BUILD_VARS.contains(&key)
            || OUTER_BUILD_PREFIXES
                .iter()
                .any(|prefix| key.starts_with(prefix))
        {
            cargo.env_remove(key);
        }
    }
    let output = cargo
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build the plugins: {e}"));
    if !output.status.success() {
        panic!(
            "building the plugins {names:?} for wasm32-wasip2 failed ({})\n\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // Cargo names the artifact after the crate (`booking_normalizer.wasm`); the
    // copies carry the plugin's own name. Copy, then rename: the host's and the
    // tests' build scripts may run at the same time.
    let built = target_dir.join("wasm32-wasip2").join("plugin");
    let components = built.join("components");
    std::fs::create_dir_all(&components)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", components.display()));
    for name in names {
        let from = built.join(format!("{}.wasm", name.replace('-', "_")));
        let to = components.join(format!("{name}.wasm"));
        let partial = components.join(format!(".{name}.wasm.{}", std::process::id()));
        std::fs::copy(&from, &partial)
            .and_then(|_| std::fs::rename(&partial, &to))
            .unwrap_or_else(|e| panic!("cannot copy {} to {}: {e}", from.display(), to.display()));
    }
    components
}

/// Installs the `wasm32-wasip2` standard library with rustup when the toolchain
/// lacks it: rustup adds `rust-toolchain.toml`'s targets only when it installs
/// the toolchain itself, so a machine that already had Rust 1.95 would
/// otherwise fail on a fresh clone.
fn ensure_wasm_target() {
    if wasm_target_installed() {
        return;
    }
    println!("cargo:warning=installing the wasm32-wasip2 target with rustup (once)");
    let status = std::process::Command::new("rustup")
        .args(["target", "add", "wasm32-wasip2"])
        .status();
    // The host's and the tests' build scripts may both be installing it: when
    // ours loses that race, wait (bounded) for the other one to finish.
    for _ in 0..60 {
        if wasm_target_installed() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    panic!(
        "the wasm32-wasip2 target is missing and `rustup target add wasm32-wasip2` \
         failed ({status:?}); install it by hand and build again"
    );
}

fn wasm_target_installed() -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    std::process::Command::new(rustc)
        .args(["--print", "target-libdir", "--target", "wasm32-wasip2"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .and_then(|dir| std::fs::read_dir(dir).ok())
        .is_some_and(|mut files| {
            files.any(|file| {
                file.is_ok_and(|f| f.file_name().to_string_lossy().starts_with("libstd-"))
            })
        })
}
