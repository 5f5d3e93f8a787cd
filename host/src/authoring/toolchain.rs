//! `weir plugin build`: runs the plugin's language toolchain against weir's
//! WIT world and leaves `NAME.wasm` (a component) in the plugin's folder.
//! Every command is reported before it runs, so a build can be repeated by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::error::{AuthoringError, io};
use super::language::Language;

/// The Python helper module a Python plugin imports as `weir_plugin`.
const PYTHON_HELPER: &str = include_str!("../../../sdk/python/weir_plugin.py");

/// The componentize-py version weir's Python plugins are built and tested with.
pub const COMPONENTIZE_PY: &str = "0.25.1";

/// A built plugin.
#[derive(Debug)]
pub struct Built {
    /// `<folder>/<name>.wasm`.
    pub component: PathBuf,
    /// The language it was built from.
    pub language: Language,
    /// How long the toolchain took.
    pub took: Duration,
}

/// Builds the plugin in `dir` (named after the folder) with its language's
/// toolchain; `report` hears each command line before it runs.
pub fn build(dir: &Path, report: &mut dyn FnMut(&str)) -> Result<Built, AuthoringError> {
    let dir = dir
        .canonicalize()
        .map_err(io("open the plugin folder", dir))?;
    let name = dir
        .file_name()
        .and_then(|name| name.to_str())
        .filter(|name| crate::runtime::is_valid_plugin_name(name))
        .ok_or_else(|| AuthoringError::BadName { path: dir.clone() })?;
    let language = Language::of_folder(&dir)
        .ok_or_else(|| AuthoringError::UnknownLanguage { path: dir.clone() })?;
    let component = dir.join(format!("{name}.wasm"));
    let started = Instant::now();
    // The WIT (and helpers) go in a scratch folder, not the plugin's: one copy, weir's.
    let contract =
        tempfile::tempdir().map_err(io("create a scratch folder in", &std::env::temp_dir()))?;
    let wit = contract.path().join("wit");
    write(&wit.join("plugin.wit"), super::WIT)?;
    match language {
        Language::Rust => build_rust(&dir, &component, report)?,
        Language::Python => {
            let helpers = contract.path().join("python");
            write(&helpers.join("weir_plugin.py"), PYTHON_HELPER)?;
            let mut command = Command::new("componentize-py");
            command
                .current_dir(&dir)
                .arg("-d")
                .arg(&wit)
                .args(["-w", "handler-plugin", "componentize", "app", "-p", "."])
                .arg("-p")
                .arg(&helpers)
                .arg("-o")
                .arg(&component);
            let hint = format!("install it with `pip install componentize-py=={COMPONENTIZE_PY}`");
            run(&mut command, &hint, report)?;
        }
        Language::C => super::c_toolchain::build_c(&dir, contract.path(), &component, report)?,
        Language::Js => {
            let tool = dir.join("node_modules/.bin/componentize-js");
            if !tool.is_file() {
                return Err(AuthoringError::MissingTool {
                    tool: tool.display().to_string(),
                    hint: format!("run `npm install` in {}", dir.display()),
                });
            }
            let mut command = Command::new(&tool);
            command
                .current_dir(&dir)
                .arg("handler.js")
                .arg("--wit")
                .arg(&wit)
                .args(["-n", "handler-plugin", "-o"])
                .arg(&component);
            run(
                &mut command,
                "run `npm install` in the plugin folder",
                report,
            )?;
        }
    }
    if !component.is_file() {
        return Err(AuthoringError::NoComponent {
            command: format!("{language:?} build"),
            detail: format!("{} is missing", component.display()),
        });
    }
    Ok(Built {
        component,
        language,
        took: started.elapsed(),
    })
}

/// `cargo build --release --target wasm32-wasip2`, then the cdylib copied to `component`.
fn build_rust(
    dir: &Path,
    component: &Path,
    report: &mut dyn FnMut(&str),
) -> Result<(), AuthoringError> {
    let mut command = Command::new("cargo");
    command
        .current_dir(dir)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .args(["--message-format", "json-render-diagnostics"])
        .stdout(Stdio::piped());
    let hint = "install Rust with rustup, then `rustup target add wasm32-wasip2`";
    let output = run(&mut command, hint, report)?;
    // The last cdylib cargo reports is the plugin (its dependencies are rlibs).
    let built = String::from_utf8_lossy(&output)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .flat_map(|message| {
            message["filenames"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|name| name.as_str().map(PathBuf::from))
                .collect::<Vec<_>>()
        })
        .rfind(|path| path.extension().is_some_and(|ext| ext == "wasm"))
        .ok_or_else(|| AuthoringError::NoComponent {
            command: describe(&command),
            detail:
                "cargo built no .wasm: is the crate a `cdylib` (`[lib] crate-type = [\"cdylib\"]`)?"
                    .into(),
        })?;
    std::fs::copy(&built, component).map_err(io("copy the component to", component))?;
    Ok(())
}

/// Runs `command` (its stderr passed through) and returns its stdout if piped;
/// a missing program is [`AuthoringError::MissingTool`] with `hint`.
pub(super) fn run(
    command: &mut Command,
    hint: &str,
    report: &mut dyn FnMut(&str),
) -> Result<Vec<u8>, AuthoringError> {
    let line = describe(command);
    report(&line);
    let child = command.stderr(Stdio::inherit()).spawn().map_err(|error| {
        if error.kind() == std::io::ErrorKind::NotFound {
            AuthoringError::MissingTool {
                tool: command.get_program().to_string_lossy().into_owned(),
                hint: hint.to_owned(),
            }
        } else {
            AuthoringError::Io {
                action: "run",
                path: PathBuf::from(command.get_program()),
                cause: error,
            }
        }
    })?;
    let output = child
        .wait_with_output()
        .map_err(io("wait for", Path::new(&line)))?;
    if !output.status.success() {
        return Err(AuthoringError::BuildFailed {
            command: line,
            status: output.status,
        });
    }
    Ok(output.stdout)
}

/// `command` as a shell line, for the report and errors.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn write(path: &Path, text: &str) -> Result<(), AuthoringError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create", parent))?;
    }
    std::fs::write(path, text).map_err(io("write", path))
}
