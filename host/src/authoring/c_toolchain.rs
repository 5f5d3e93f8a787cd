//! Building a C plugin. weir writes its C SDK and the C bindings of its WIT
//! world (wit-bindgen) into a scratch folder, compiles them with the plugin's
//! `.c` files using `zig cc` for `wasm32-wasi` (a core module), and turns the
//! module into a component with the WASI preview-1 adapter. So a C plugin
//! needs only Zig, which `pip install ziglang` provides with its C library.

use std::path::{Path, PathBuf};
use std::process::Command;

use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;
use wit_bindgen_core::Files;
use wit_bindgen_core::wit_parser::Resolve;

use super::error::{AuthoringError, io};
use super::toolchain::{run, write};

/// The Zig version weir's C plugins are built and tested with (PyPI `ziglang`).
pub const ZIGLANG: &str = "0.17.0";

/// The C SDK: (file name, text).
const SDK: [(&str, &str); 4] = [
    (
        "weir_plugin.h",
        include_str!("../../../sdk/c/weir_plugin.h"),
    ),
    (
        "weir_plugin.c",
        include_str!("../../../sdk/c/weir_plugin.c"),
    ),
    ("weir_json.c", include_str!("../../../sdk/c/weir_json.c")),
    (
        "weir_memory.h",
        include_str!("../../../sdk/c/weir_memory.h"),
    ),
];

/// Compiles the C plugin in `dir` into `component`, using `scratch` for the
/// SDK, the bindings and the core module.
pub fn build_c(
    dir: &Path,
    scratch: &Path,
    component: &Path,
    report: &mut dyn FnMut(&str),
) -> Result<(), AuthoringError> {
    let sdk = scratch.join("c");
    for (name, text) in SDK {
        write(&sdk.join(name), text)?;
    }
    let mut linked = write_bindings(&sdk)?;
    linked.extend(
        SDK.iter()
            .filter(|(name, _)| name.ends_with(".c"))
            .map(|(name, _)| sdk.join(name)),
    );
    let core = scratch.join("core.wasm");
    let mut command = zig_cc()?;
    command
        .current_dir(dir)
        // A reactor: no `main`, exports called as often as the host likes.
        .args([
            "--target=wasm32-wasi",
            "-mexec-model=reactor",
            "-O2",
            "-s",
            "-Wall",
        ])
        .arg("-I")
        .arg(&sdk)
        .args(sources(dir)?)
        .args(&linked)
        .arg("-o")
        .arg(&core);
    run(&mut command, &install_hint(), report)?;
    let module = std::fs::read(&core).map_err(io("read the compiled module", &core))?;
    let encoded = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|encoder| {
            encoder.adapter(
                "wasi_snapshot_preview1",
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )
        })
        .and_then(|mut encoder| encoder.encode())
        .map_err(|error| AuthoringError::NoComponent {
            command: "zig cc".to_owned(),
            detail: format!("the module cannot be made a component: {error:#}"),
        })?;
    std::fs::write(component, encoded).map_err(io("write", component))
}

/// Writes the bindings of weir's `handler-plugin` world into `sdk` and
/// returns the files to link (the C source and the object that carries the
/// world's type for the component encoder).
fn write_bindings(sdk: &Path) -> Result<Vec<PathBuf>, AuthoringError> {
    let bindings = |error: anyhow::Error| AuthoringError::Runtime(format!("C bindings: {error:#}"));
    let mut resolve = Resolve::default();
    let package = resolve
        .push_str("plugin.wit", super::WIT)
        .map_err(bindings)?;
    let world = resolve
        .select_world(&[package], Some("handler-plugin"))
        .map_err(bindings)?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(bindings)?;
    let mut linked = Vec::new();
    for (name, contents) in files.iter() {
        let path = sdk.join(name);
        std::fs::write(&path, contents).map_err(io("write", &path))?;
        if !name.ends_with(".h") {
            linked.push(path);
        }
    }
    Ok(linked)
}

/// The plugin's own `.c` files, in name order.
fn sources(dir: &Path) -> Result<Vec<PathBuf>, AuthoringError> {
    let mut sources: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io("list", dir))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    sources.sort();
    Ok(sources)
}

/// `zig cc`: the `zig` on PATH, else the one the `ziglang` Python package holds.
fn zig_cc() -> Result<Command, AuthoringError> {
    let works = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .is_ok_and(|output| output.status.success())
    };
    let (program, args): (&str, &[&str]) = if works("zig", &["version"]) {
        ("zig", &["cc"])
    } else if works("python3", &["-m", "ziglang", "version"]) {
        ("python3", &["-m", "ziglang", "cc"])
    } else {
        return Err(AuthoringError::MissingTool {
            tool: "zig".to_owned(),
            hint: install_hint(),
        });
    };
    let mut command = Command::new(program);
    command.args(args);
    Ok(command)
}

fn install_hint() -> String {
    format!("install it with `pip install ziglang=={ZIGLANG}` (or put Zig {ZIGLANG} on PATH)")
}
