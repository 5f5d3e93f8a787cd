//! Why weir could not start or stopped: each variant names what to fix.

use std::path::PathBuf;

/// A start-up or run failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// A directory or file weir needs cannot be used.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What weir was doing.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The queue cannot be opened or written.
    #[error("queue at {path}: {source}")]
    Queue {
        /// The queue directory.
        path: PathBuf,
        /// The storage error.
        source: crate::queue::QueueError,
    },
    /// A write to the queue failed while running; weir stopped so that it can
    /// be restarted on storage it can trust.
    #[error(
        "stopped after a storage failure in {path} (see the log above); restart weir once the disk is healthy"
    )]
    StorageFailed {
        /// The queue directory.
        path: PathBuf,
    },
    /// A plugin cannot be loaded.
    #[error(transparent)]
    Plugin(#[from] crate::runtime::PluginError),
    /// A route names a plugin that is not in the plugin directory.
    #[error("route {route:?} names plugin {plugin:?}, but {dir} has no {plugin}.wasm")]
    UnknownPlugin {
        /// The route.
        route: String,
        /// The missing plugin.
        plugin: String,
        /// The plugin directory.
        dir: PathBuf,
    },
    /// The plugin directory, or the config file's directory, cannot be watched.
    #[error(
        "cannot watch {dir} for changes: {message} (set [reload] watch = false to run without reloads)"
    )]
    Watch {
        /// The directory.
        dir: PathBuf,
        /// Why, from the file watcher.
        message: String,
    },
    /// The NATS cluster of `[storage] backend = "nats"` cannot be used.
    #[error(transparent)]
    Nats(#[from] crate::nats::NatsError),
    /// The WebAssembly engine cannot be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
}
