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
    /// The data directory, or the compilation cache in it, can be written by
    /// other users, who could then put native code there for weir to run.
    #[error(
        "{path} is writable by other users (mode {mode:o}): weir runs the compiled plugin code cached there, so anyone who can write it can run code as weir; run `chmod go-w {path}`"
    )]
    WritableByOthers {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another process (another weir) has the data directory open: fjall
    /// lets one process at a time hold a database.
    #[error("another weir process holds {dir}: stop it first, or give this one its own --data-dir")]
    Locked {
        /// The data directory.
        dir: PathBuf,
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
    /// The plugin directory that was set does not exist.
    #[error(
        "the plugin directory {dir} does not exist: create it and put each plugin the routes name in it as NAME.wasm"
    )]
    NoPluginDir {
        /// The plugin directory.
        dir: PathBuf,
    },
    /// A route names a plugin that is not one of the examples weir will
    /// install into the default plugin directory, which does not exist yet.
    #[error(
        "route {route:?} names plugin {plugin:?}, but {dir} does not exist yet, and at first start weir puts only its example plugins there ({examples}): create {dir} with {plugin}.wasm in it",
        examples = crate::examples::NAMES.join(", ")
    )]
    NotAnExample {
        /// The route.
        route: String,
        /// The plugin that is not an example.
        plugin: String,
        /// The default plugin directory.
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

/// `error` and its causes on one line, each said once.
///
/// Most of weir's errors already put their cause in their own message, for the
/// log lines that print only that message (`%error`); a printer that appends
/// every cause (`{:#}`) would then say it twice, or three times. A cause whose
/// text the line already holds is therefore left out.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(error) = cause {
        let said = error.to_string();
        if !line.contains(&said) {
            line.push_str(": ");
            line.push_str(&said);
        }
        cause = error.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cause_already_in_the_message_is_said_once() {
        let missing = || std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = crate::config::ConfigError::Read {
            path: PathBuf::from("/etc/weir.toml"),
            source: missing(),
        };
        assert_eq!(
            one_line(&error),
            "cannot read config file /etc/weir.toml: no such file"
        );
        let wrapped = anyhow::Error::new(missing()).context("cannot start");
        assert_eq!(one_line(wrapped.as_ref()), "cannot start: no such file");
    }
}
