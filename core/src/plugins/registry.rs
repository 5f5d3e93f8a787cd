//! The plugins weir runs, by name, with the engine and linker they are compiled
//! for, and the files a reload turned down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};

use super::Plugin;
use crate::config::PluginLimits;
use crate::metrics::Metrics;
use crate::runtime::Engine;
use crate::runtime::Linkers;
use crate::runtime::engine::PoolSize;

/// A plugin file that could not be loaded while weir ran; the version before
/// it, if any, keeps serving.
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Of the files turned down: the same files are not tried again.
    pub fingerprint: [u8; 32],
    /// The turned-down component's version.
    pub version: String,
    /// Why, naming the file.
    pub reason: String,
    /// When (ms since the Unix epoch).
    pub at_ms: u64,
}

/// Every loaded plugin, the ones being compiled, and the latest rejection of
/// each plugin name.
pub struct Plugins {
    engine: Engine,
    linkers: Linkers,
    /// What the pooling allocator was sized for; later plugins must fit in it.
    pool: PoolSize,
    loaded: RwLock<BTreeMap<String, Arc<Plugin>>>,
    rejected: Mutex<BTreeMap<String, Rejection>>,
    /// Names being compiled now, with when it started (ms since the Unix epoch):
    /// a Python or JavaScript component takes seconds.
    compiling: Mutex<BTreeMap<String, u64>>,
    /// Names an operator paused, loaded or not: a pause outlives the
    /// plugin's file and applies when it loads.
    paused: Mutex<BTreeSet<String>>,
}

impl Plugins {
    /// The registry of `loaded`, compiled for `engine`, whose pool holds `pool`.
    pub fn new(
        engine: Engine,
        linkers: Linkers,
        pool: PoolSize,
        loaded: BTreeMap<String, Arc<Plugin>>,
    ) -> Plugins {
        Plugins {
            engine,
            linkers,
            pool,
            loaded: RwLock::new(loaded),
            rejected: Mutex::default(),
            compiling: Mutex::default(),
            paused: Mutex::default(),
        }
    }

    /// The engine, linkers and pool size, for a registry of other plugins.
    pub fn into_parts(self) -> (Engine, Linkers, PoolSize) {
        (self.engine, self.linkers, self.pool)
    }

    /// The engine every plugin runs on.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The linkers plugins are instantiated with.
    pub fn linkers(&self) -> &Linkers {
        &self.linkers
    }

    /// The plugin called `name`, if loaded.
    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.read().get(name).cloned()
    }

    /// Every loaded plugin, by name.
    pub fn all(&self) -> Vec<Arc<Plugin>> {
        self.read().values().cloned().collect()
    }

    /// Adds a plugin loaded while weir runs.
    pub fn insert(&self, plugin: Arc<Plugin>) {
        let mut loaded = self.loaded.write().unwrap_or_else(|p| p.into_inner());
        loaded.insert(plugin.name.to_string(), plugin);
    }

    /// Marks `name` paused or not (the store keeps the pause); a loaded
    /// plugin stops or resumes leasing now, one loaded later starts paused.
    pub fn set_paused(&self, name: &str, paused: bool, metrics: &Metrics) {
        let mut names = self.paused_lock();
        if paused {
            names.insert(name.to_owned());
        } else {
            names.remove(name);
        }
        drop(names);
        if let Some(plugin) = self.get(name) {
            plugin.set_paused(paused, metrics);
        }
    }

    /// Whether an operator paused `name`.
    pub fn is_paused(&self, name: &str) -> bool {
        self.paused_lock().contains(name)
    }

    /// Every name an operator paused.
    pub fn paused(&self) -> BTreeSet<String> {
        self.paused_lock().clone()
    }

    /// Why `limits` do not fit the pool weir started with, if they do not;
    /// `new` plugins also need free instance slots.
    pub fn misfit(&self, limits: &PluginLimits, new: bool) -> Option<String> {
        if limits.memory_bytes > self.pool.max_memory_bytes {
            return Some(format!(
                "memory_bytes {} is over the {} the instance pool was sized for at start; restart weir to load it",
                limits.memory_bytes, self.pool.max_memory_bytes
            ));
        }
        let taken: u32 = self.read().values().map(|plugin| plugin.instances).sum();
        let free = self.pool.instances.saturating_sub(taken);
        (new && limits.instances > free).then(|| {
            format!(
                "needs {} instance slots and the pool has {free} free ([reload] spare_instances); restart weir to load it",
                limits.instances
            )
        })
    }

    /// The latest rejection of each plugin name, by name.
    pub fn rejections(&self) -> BTreeMap<String, Rejection> {
        self.rejected_lock().clone()
    }

    /// Records that `name`'s files were turned down.
    pub fn reject(&self, name: &str, rejection: Rejection) {
        self.rejected_lock().insert(name.to_owned(), rejection);
    }

    /// Forgets the rejections of names for which `keep` is false.
    pub fn retain_rejections(&self, keep: impl Fn(&str) -> bool) {
        self.rejected_lock().retain(|name, _| keep(name));
    }

    /// Notes that `name` is being compiled, from now until [`Plugins::compiled`].
    pub fn compiling(&self, name: &str) {
        self.compiling_lock()
            .insert(name.to_owned(), crate::event::now_ms());
    }

    /// Notes that `name` is no longer being compiled (loaded or rejected).
    pub fn compiled(&self, name: &str) {
        self.compiling_lock().remove(name);
    }

    /// The names being compiled, with when each started.
    pub fn being_compiled(&self) -> BTreeMap<String, u64> {
        self.compiling_lock().clone()
    }

    fn paused_lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.paused.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn compiling_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u64>> {
        self.compiling.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Plugin>>> {
        self.loaded.read().unwrap_or_else(|p| p.into_inner())
    }

    fn rejected_lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Rejection>> {
        self.rejected.lock().unwrap_or_else(|p| p.into_inner())
    }
}
