//! Reloading plugins: once the plugin directory has been quiet, every plugin
//! file is compared with the version serving. What changed is compiled off the
//! async runtime, checked against the WIT world and swapped in: deliveries
//! already running finish on the version they started on. A file that cannot
//! be loaded is rejected (a log line, a metric, an entry in `GET /v1/plugins`)
//! and the version before it keeps serving. A removed file stops new
//! deliveries of its plugin; they wait in the queue until it is back. A
//! component or manifest may be a symlink: the directory it points into is
//! watched too, and both files are read once per look, so a version's
//! settings are those its fingerprint covers.
//!
//! Start-up loads the plugins the same way, while weir already ingests: a
//! large component (Python, JavaScript) compiles for seconds, shown as
//! `loading` in `GET /v1/plugins`, and its deliveries wait in the queue.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::dispatch::Workers;
use crate::event::now_ms;
use crate::plugins::{Plugin, Rejection};
use crate::runtime::{self, PluginFiles, Version};
use weir_core::Shared;

/// Whether a change to `path` may change a plugin: a component or a manifest.
pub(super) fn concerns_plugins(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext == "wasm" || ext == "toml")
}

/// Why the plugin directory is being loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Occasion {
    /// weir is starting: every plugin is new, and loading it is not a reload.
    Start,
    /// The directory changed.
    Change,
}

/// What a look at the plugin directory did and found.
#[derive(Default)]
pub(super) struct Looked {
    /// Whether it added a plugin.
    pub added: bool,
    /// The directories outside the plugin directory that its symlinked files
    /// point into: a file changed there changes a plugin.
    pub linked_dirs: BTreeSet<PathBuf>,
}

/// Brings the loaded plugins in line with the plugin directory.
pub(super) async fn reload(workers: &Workers, occasion: Occasion) -> Looked {
    let shared = &workers.shared;
    let (found, misnamed) = match runtime::scan(&shared.config.plugins_dir) {
        Ok(scanned) => scanned,
        Err(error) => {
            tracing::error!(%error, "cannot read the plugin directory; the plugins stay as they are");
            return Looked::default();
        }
    };
    let linked_dirs = linked_dirs(&shared.config.plugins_dir, &found);
    for path in misnamed {
        tracing::warn!(path = %path.display(), "ignored: a plugin file name must be lowercase letters, digits, '-' or '_' (at most 64) followed by .wasm");
    }
    for plugin in shared.plugins.all() {
        if !found.contains_key(&*plugin.name) && !plugin.gate.borrow().removed {
            plugin.set_removed(true);
            count(shared, &plugin.name, "removed");
            tracing::warn!(plugin = %plugin.name, "plugin file removed: its deliveries wait in the queue until it is back");
        }
    }
    shared
        .plugins
        .retain_rejections(|name| found.contains_key(name));
    let mut added = false;
    for (name, path) in found {
        // Each load may compile for seconds: stopping does not wait for the rest.
        if workers.tasks.stop.is_cancelled() {
            break;
        }
        added |= load(workers, name, path, occasion).await;
    }
    if occasion == Occasion::Start {
        let loaded = shared.plugins.all().len();
        let rejected = shared.plugins.rejections().len();
        tracing::info!(loaded, rejected, "plugins loaded");
    }
    Looked { added, linked_dirs }
}

/// The directories, other than `dir`, that the symlinked components and
/// manifests among `found` resolve into.
fn linked_dirs(dir: &Path, found: &BTreeMap<String, PathBuf>) -> BTreeSet<PathBuf> {
    let home = std::fs::canonicalize(dir).ok();
    found
        .values()
        .flat_map(|component| [component.clone(), component.with_extension("toml")])
        .filter(|path| {
            path.symlink_metadata()
                .is_ok_and(|meta| meta.file_type().is_symlink())
        })
        .filter_map(|path| Some(std::fs::canonicalize(path).ok()?.parent()?.to_owned()))
        .filter(|parent| Some(parent) != home.as_ref())
        .collect()
}

/// What a plugin file holds compared with the version serving.
enum Change {
    /// The same files as the version serving.
    Serving,
    /// Nothing to load: the files of the last rejection, or files that
    /// cannot be read now.
    Skipped,
    /// A new version, compiled and checked.
    Compiled(Box<Version>),
    /// Files that cannot be loaded.
    Rejected(Rejection),
}

/// Loads `name` from `path` if it changed; returns whether it is a new plugin.
async fn load(workers: &Workers, name: String, path: PathBuf, occasion: Occasion) -> bool {
    let started = Instant::now();
    let plugin = workers.shared.plugins.get(&name);
    let current = plugin.as_ref().map(|plugin| plugin.current());
    let shared = workers.shared.clone();
    let examined = {
        let name = name.clone();
        tokio::task::spawn_blocking(move || examine(&shared, &name, &path, current.as_deref()))
            .await
    };
    let shared = &workers.shared;
    let mut added = false;
    match examined {
        Ok(Change::Skipped) => {}
        Ok(Change::Serving) => {
            if let Some(plugin) = plugin.filter(|plugin| plugin.gate.borrow().removed) {
                plugin.set_removed(false);
                tracing::info!(plugin = %name, "plugin file back: its deliveries run again");
            }
        }
        Ok(Change::Compiled(version)) => {
            let version = *version;
            let id = version.id.clone();
            match plugin {
                Some(plugin) => {
                    if version.limits.instances != plugin.instances {
                        tracing::warn!(plugin = %name, instances = plugin.instances, "a change of instances takes effect after a restart");
                    }
                    let old = plugin.swap(version);
                    plugin.set_removed(false);
                    tracing::info!(plugin = %name, version = %id, previous = %old.id, took = ?started.elapsed(), "plugin reloaded: new deliveries run on the new version");
                }
                None => {
                    let plugin = Arc::new(Plugin::new(version));
                    shared
                        .metrics
                        .plugin_loaded(&plugin.name, plugin.concurrency.current());
                    shared.plugins.insert(plugin.clone());
                    // An operator's pause outlives the plugin's file. Checked
                    // once it is in the registry, so that a pause made
                    // meanwhile reaches it one way or the other.
                    if shared.plugins.is_paused(&name) {
                        plugin.set_paused(true, &shared.metrics);
                        tracing::warn!(plugin = %name, "plugin paused by an operator before; still paused");
                    }
                    workers.start(plugin);
                    added = true;
                    tracing::info!(plugin = %name, version = %id, took = ?started.elapsed(), "plugin added");
                }
            }
            shared
                .plugins
                .retain_rejections(|rejected| rejected != name);
            if occasion == Occasion::Change {
                count(shared, &name, "loaded");
            }
        }
        Ok(Change::Rejected(rejection)) => {
            tracing::error!(plugin = %name, version = %rejection.version, reason = %rejection.reason,
                "plugin file rejected; {}", if plugin.is_some() { "the version before it keeps serving" } else { "the plugin is not loaded" });
            shared.plugins.reject(&name, rejection);
            count(shared, &name, "rejected");
        }
        Err(panicked) => {
            tracing::error!(plugin = %name, %panicked, "loading the plugin file panicked; the plugin stays as it was");
        }
    }
    shared.plugins.compiled(&name);
    added
}

/// Reads and, if they changed, compiles the files of plugin `name`. Blocking.
fn examine(shared: &Shared, name: &str, path: &Path, current: Option<&Version>) -> Change {
    let files = match PluginFiles::read(path) {
        Ok(files) => files,
        Err(error) => {
            // Most often a file renamed or removed since the scan; the next change reloads it.
            tracing::warn!(plugin = %name, %error, "cannot read the plugin file; it is left as it was");
            return Change::Skipped;
        }
    };
    if current.is_some_and(|version| version.fingerprint == files.fingerprint) {
        return Change::Serving;
    }
    let rejected = shared.plugins.rejections().remove(name);
    if rejected.is_some_and(|rejection| rejection.fingerprint == files.fingerprint) {
        return Change::Skipped;
    }
    let reject = |reason: String| {
        Change::Rejected(Rejection {
            fingerprint: files.fingerprint,
            version: files.version(),
            reason,
            at_ms: now_ms(),
        })
    };
    let config = &shared.config;
    let settings = match config.settings_from_manifest(name, path, files.manifest.as_deref()) {
        Ok(settings) => settings,
        Err(error) => return reject(error.to_string()),
    };
    if let Some(warning) = settings.capabilities.ungranted_warning(name) {
        tracing::warn!(plugin = name, "{warning}");
    }
    let limits = settings.limits.as_ref().unwrap_or(&config.plugin_defaults);
    if let Some(misfit) = shared.plugins.misfit(limits, current.is_none()) {
        return reject(format!("plugin {name} ({}): {misfit}", path.display()));
    }
    let registry = &shared.plugins;
    registry.compiling(name);
    match Version::compile(
        registry.engine(),
        registry.linkers(),
        name,
        &files,
        settings,
        &config.plugin_defaults,
    ) {
        Ok(version) => Change::Compiled(Box::new(version)),
        Err(error) => reject(error.to_string()),
    }
}

/// Counts a reload of `plugin` with `result` in `weir_plugin_reloads_total`.
fn count(shared: &Shared, plugin: &str, result: &str) {
    shared.metrics.recent_reloads.record(plugin, result);
    shared
        .metrics
        .plugin_reloads
        .get_or_create(&crate::metrics::ReloadLabels {
            plugin: plugin.to_owned(),
            result: result.to_owned(),
        })
        .inc();
}
