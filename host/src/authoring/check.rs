//! `weir plugin check`: whether a component loads into weir, what it imports
//! and exports, and which of its imports weir will refuse at run time.

use std::path::Path;

use super::error::AuthoringError;
use super::workbench::Workbench;

/// What `weir plugin check` found.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    /// The plugin's name (the file stem).
    pub name: String,
    /// Its version as weir names it.
    pub version: String,
    /// Size of the file.
    pub size_bytes: u64,
    /// The interfaces it imports, such as `weir:plugin/state@0.1.0`.
    pub imports: Vec<String>,
    /// The interfaces it exports.
    pub exports: Vec<String>,
    /// Imports weir provides but the plugin was granted nothing for, so every call fails.
    pub warnings: Vec<String>,
}

/// Imports weir links but grants nothing through unless the manifest says so.
const UNGRANTED: &[(&str, &str)] = &[
    (
        "wasi:filesystem/",
        "weir gives plugins no directories: every open fails",
    ),
    (
        "wasi:sockets/",
        "weir gives plugins no sockets: every connection fails (use wasi:http with a grant)",
    ),
];

/// Compiles the component at `path` as weir would load it and reports on it.
/// An error names what does not fit the `handler-plugin` world.
pub fn check(path: &Path, scratch: &Path) -> Result<Report, AuthoringError> {
    let bench = Workbench::open(path, scratch, &super::workbench::cache_dir()?)?;
    let version = &bench.version;
    let engine = bench.plugins.engine();
    let kind = version.component.component_type();
    let imports: Vec<String> = kind
        .imports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let exports = kind
        .exports(engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    let mut warnings: Vec<String> = UNGRANTED
        .iter()
        .filter(|(prefix, _)| imports.iter().any(|name| name.starts_with(prefix)))
        .map(|(prefix, why)| format!("imports {prefix}*: {why}"))
        .collect();
    let http = imports
        .iter()
        .any(|name| name.starts_with("wasi:http/outgoing-handler"));
    if http && version.capabilities.http.is_empty() {
        // The lines to paste, each on its own line, as they go in the file.
        warnings.push(format!(
            "imports wasi:http/outgoing-handler but its manifest requests no hosts, so every request is refused; to request one, add to {}:\n    [capabilities]\n    http = [\"api.example.com\"]\n`weir serve` lets it reach only the hosts weir.toml grants: [plugins.{}.capabilities] http = [...]",
            path.with_extension("toml").display(),
            version.name
        ));
    }
    Ok(Report {
        name: version.name.to_string(),
        version: version.id.to_string(),
        size_bytes: version.size_bytes,
        imports,
        exports,
        warnings,
    })
}
