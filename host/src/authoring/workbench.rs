//! One plugin component loaded the way `weir serve` loads it: the same
//! engine settings, linker, manifest and limits, so what passes here loads there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{AuthoringError, io};
use crate::config::{Config, Overrides};
use crate::egress_transport::Http1Transport;
use crate::plugins::Plugins;
use crate::queue::Queue;
use crate::runtime::{self, CommittedState, PluginFiles, Version, engine};
use weir_store_fjall::open::queue_dir;

/// A compiled plugin and the runtime it was compiled for.
pub struct Workbench {
    /// weir's defaults, with `data_dir` a scratch folder.
    pub config: Config,
    /// The engine and linker (no plugin registered: the version is run directly).
    pub plugins: Plugins,
    /// The compiled plugin.
    pub version: Version,
    /// The component file.
    pub path: PathBuf,
}

impl Workbench {
    /// Compiles the component at `path` (its manifest `NAME.toml` beside it,
    /// if any) with weir's defaults; `data_dir` is where a trial keeps its
    /// store, `cache` wasmtime's compilation cache ([`cache_dir`] for the CLI).
    pub fn open(path: &Path, data_dir: &Path, cache: &Path) -> Result<Workbench, AuthoringError> {
        let name = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .filter(|stem| runtime::is_valid_plugin_name(stem))
            .ok_or_else(|| AuthoringError::BadName {
                path: path.to_owned(),
            })?;
        let config = Config::from_toml(
            "",
            Overrides {
                data_dir: Some(data_dir.to_owned()),
                ..Overrides::default()
            },
        )?;
        let mut settings = config.settings_with_manifest(name, path)?;
        // The author's own plugin on the author's machine: what its manifest
        // requests is granted here, as weir.toml would grant it in production.
        settings.capabilities.grant_requested();
        let limits = settings.limits.as_ref().unwrap_or(&config.plugin_defaults);
        let pool = engine::PoolSize {
            instances: 1,
            max_memory_bytes: limits.memory_bytes,
        };
        let runtime_error = |error: wasmtime::Error| AuthoringError::Runtime(format!("{error:#}"));
        let engine = engine::build(pool, cache).map_err(runtime_error)?;
        let linker = runtime::linker(&engine, Arc::new(Http1Transport)).map_err(runtime_error)?;
        let plugins = Plugins::new(engine, linker, pool, BTreeMap::new());
        let files = PluginFiles::read(path)?;
        let version = Version::compile(
            plugins.engine(),
            plugins.linkers(),
            name,
            &files,
            settings,
            &config.plugin_defaults,
        )?;
        Ok(Workbench {
            config,
            plugins,
            version,
            path: path.to_owned(),
        })
    }

    /// A fresh store in the data directory, for the state a handler reads.
    pub fn state(&self) -> Result<Arc<dyn CommittedState>, AuthoringError> {
        let queue_dir = queue_dir(&self.config.data_dir);
        let queue = Queue::open(&queue_dir, self.config.durability).map_err(|error| {
            AuthoringError::Runtime(format!("{}: {error}", queue_dir.display()))
        })?;
        Ok(Arc::new(queue))
    }
}

/// Where `weir plugin` caches compiled code between runs
/// (`$XDG_CACHE_HOME/weir`, else `~/.cache/weir`): a large component
/// compiles for seconds the first time only.
pub fn cache_dir() -> Result<PathBuf, AuthoringError> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("weir");
    std::fs::create_dir_all(&dir).map_err(io("create the compilation cache", &dir))?;
    Ok(dir)
}
