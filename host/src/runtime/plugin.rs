//! Finding, compiling and holding plugins: one `NAME.wasm` component each.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, HasSelf, Linker};

use super::bindings::{HandlerPlugin, HandlerPluginPre};
use super::context::DeliveryContext;
use crate::config::{Config, PluginLimits};

/// A plugin that cannot be loaded; the message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// The plugin directory or a file in it cannot be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file name that is not a valid plugin name.
    #[error(
        "{path}: plugin file names must be lowercase letters, digits, '-' or '_' (at most 64) followed by .wasm"
    )]
    BadName {
        /// The file.
        path: PathBuf,
    },
    /// Not a valid component, or one that does not fit the `handler-plugin` world.
    #[error("plugin {plugin} ({path}) cannot be loaded: {message}")]
    Invalid {
        /// The plugin name.
        plugin: String,
        /// The file.
        path: PathBuf,
        /// What is wrong, from wasmtime.
        message: String,
    },
}

/// Whether `name` can name a plugin: it becomes part of storage keys and metric labels.
pub fn is_valid_plugin_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The `NAME.wasm` files in `dir`, by name.
pub fn discover(dir: &Path) -> Result<BTreeMap<String, PathBuf>, PluginError> {
    let io = |source| PluginError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.extension().is_none_or(|ext| ext != "wasm") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if !is_valid_plugin_name(name) {
            return Err(PluginError::BadName { path });
        }
        found.insert(name.to_owned(), path);
    }
    Ok(found)
}

/// How many bytes of the SHA-256 name a version: enough that two different
/// builds of one plugin never share a version by chance.
const VERSION_BYTES: usize = 12;

/// The version of a component: the start of the SHA-256 of its bytes, in hex.
fn version_of(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)[..VERSION_BYTES]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A compiled plugin, ready to instantiate.
pub struct Plugin {
    /// Its name (the file stem).
    pub name: Arc<str>,
    pub(super) pre: HandlerPluginPre<DeliveryContext>,
    /// The limits it runs under.
    pub limits: PluginLimits,
    pub(super) config: Arc<BTreeMap<String, String>>,
    /// Free instance slots: a delivery runs only while it holds one.
    pub slots: Arc<Semaphore>,
    /// True while an operator has paused the plugin: nothing new is leased,
    /// deliveries wait in the queue.
    pub paused: tokio::sync::watch::Sender<bool>,
    /// Stops feeding the plugin while most of its recent attempts fail.
    pub breaker: crate::dispatch::Breaker,
    /// The same, per route that sends to it.
    pub route_breakers: crate::dispatch::RouteBreakers,
    /// How many of its slots it may use now, adapted to its latency.
    pub concurrency: crate::dispatch::AdaptiveLimit,
    /// Signalled when one of its deliveries ends and frees a slot.
    pub slot_freed: tokio::sync::Notify,
    /// Size of the component file.
    pub size_bytes: u64,
    /// The component's version: the start of the SHA-256 of its bytes, in hex.
    pub version: String,
    /// When it was compiled and loaded (ms since the Unix epoch).
    pub loaded_at_ms: u64,
}

/// The linker every plugin is instantiated with: WASI (nothing granted) and weir's imports.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<DeliveryContext>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    HandlerPlugin::add_to_linker::<_, HasSelf<DeliveryContext>>(&mut linker, |context| context)?;
    Ok(linker)
}

impl Plugin {
    /// Compiles `path` and checks it against the `handler-plugin` world.
    /// Blocking (seconds for large components): call it off the async runtime.
    pub fn compile(
        engine: &Engine,
        linker: &Linker<DeliveryContext>,
        name: &str,
        path: &Path,
        config: &Config,
    ) -> Result<Plugin, PluginError> {
        let invalid = |message: String| PluginError::Invalid {
            plugin: name.to_owned(),
            path: path.to_owned(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|source| PluginError::Io {
            path: path.to_owned(),
            source,
        })?;
        // Component::new compiles (never deserializes) and uses wasmtime's cache.
        let component = Component::new(engine, &bytes).map_err(|e| invalid(format!("{e:#}")))?;
        let instance_pre = linker
            .instantiate_pre(&component)
            .map_err(|e| invalid(format!("{e:#}")))?;
        let pre = HandlerPluginPre::new(instance_pre).map_err(|e| invalid(format!("{e:#}")))?;
        let limits = config.limits_for(name).clone();
        Ok(Plugin {
            name: Arc::from(name),
            pre,
            slots: Arc::new(Semaphore::new(limits.instances as usize)),
            paused: tokio::sync::watch::Sender::new(false),
            breaker: crate::dispatch::Breaker::new(limits.breaker.clone()),
            route_breakers: crate::dispatch::RouteBreakers::new(limits.breaker.clone()),
            concurrency: crate::dispatch::AdaptiveLimit::new(limits.instances),
            slot_freed: tokio::sync::Notify::new(),
            limits,
            config: Arc::new(config.values_for(name)),
            size_bytes: bytes.len() as u64,
            version: version_of(&bytes),
            loaded_at_ms: crate::event::now_ms(),
        })
    }
}

impl Plugin {
    /// Pauses or resumes leasing its deliveries, shown in `weir_plugin_paused`
    /// (the caller persists the pause).
    pub fn set_paused(&self, paused: bool, metrics: &crate::metrics::Metrics) {
        self.paused.send_replace(paused);
        metrics
            .plugin_paused
            .get_or_create(&crate::metrics::plugin(&self.name))
            .set(i64::from(paused));
    }

    /// The engine the plugin was compiled for.
    pub fn engine(&self) -> &Engine {
        self.pre.engine()
    }
}
