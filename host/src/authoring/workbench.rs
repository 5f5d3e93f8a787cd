//! One plugin component loaded the way `weir serve` loads it: the same
//! engine settings, linker, manifest and limits, so what passes here loads there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{AuthoringError, io};
use crate::config::{Config, Overrides};
use crate::runtime::{self, PluginFiles, Plugins, Version, engine};

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
    /// if any) with weir's defaults; `data_dir` is where a trial keeps its store.
    pub fn open(path: &Path, data_dir: &Path) -> Result<Workbench, AuthoringError> {
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
        let settings = config.settings_with_manifest(name, path)?;
        let limits = settings.limits.as_ref().unwrap_or(&config.plugin_defaults);
        let pool = engine::PoolSize {
            instances: 1,
            max_memory_bytes: limits.memory_bytes,
        };
        let runtime_error = |error: wasmtime::Error| AuthoringError::Runtime(format!("{error:#}"));
        let engine = engine::build(pool, &cache_dir()?).map_err(runtime_error)?;
        let linker = runtime::linker(&engine).map_err(runtime_error)?;
        let plugins = Plugins::new(engine, linker, pool, BTreeMap::new());
        let files = PluginFiles::read(path)?;
        let version = Version::compile(
            plugins.engine(),
            plugins.linker(),
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
}

/// Where compiled code is cached between runs (`$XDG_CACHE_HOME/weir`, else
/// `~/.cache/weir`): a large component compiles for seconds the first time only.
fn cache_dir() -> Result<PathBuf, AuthoringError> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("weir");
    std::fs::create_dir_all(&dir).map_err(io("create the compilation cache", &dir))?;
    Ok(dir)
}
