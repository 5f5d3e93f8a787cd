//! What can go wrong while writing a plugin; each message says what to do.

use std::path::PathBuf;

/// An error of `weir plugin`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthoringError {
    /// A file or folder cannot be read or written.
    #[error("cannot {action} {path}: {cause}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The folder's name cannot name a plugin (the plugin is named after its folder).
    #[error(
        "{path}: a plugin is named after its folder, and plugin names are lowercase letters, digits, '-' or '_' (at most 64)"
    )]
    BadName {
        /// The folder or file.
        path: PathBuf,
    },
    /// The folder holds none of the files that name a language.
    #[error(
        "{path} is not a plugin folder: it has no Cargo.toml (Rust), app.py (Python), handler.js (JavaScript) or handler.c (C); `weir plugin new` makes one"
    )]
    UnknownLanguage {
        /// The folder.
        path: PathBuf,
    },
    /// `weir plugin new` would overwrite something.
    #[error("{path} already exists; choose another name or remove it")]
    Exists {
        /// The folder.
        path: PathBuf,
    },
    /// A tool a language needs is not installed.
    #[error("{tool} is not installed or not on PATH; {hint}")]
    MissingTool {
        /// The program.
        tool: String,
        /// How to install it.
        hint: String,
    },
    /// The toolchain ran and failed; its own output says why.
    #[error("`{command}` failed ({status}); its output is above")]
    BuildFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
    },
    /// The toolchain ran but left no component where expected.
    #[error("`{command}` succeeded but wrote no component: {detail}")]
    NoComponent {
        /// The command line.
        command: String,
        /// What was missing.
        detail: String,
    },
    /// The plugin's manifest or weir's defaults are invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The component cannot be loaded: it is not one, or it does not fit the world.
    #[error(transparent)]
    Plugin(#[from] crate::runtime::PluginError),
    /// The engine or the scratch store cannot be set up.
    #[error("cannot set up the runtime: {0}")]
    Runtime(String),
    /// The vectors file given to `weir plugin test` is not one.
    #[error("{path} is not a vectors file: {message}")]
    BadVectors {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The event file given to `weir plugin test` is not an event.
    #[error("{path} is not an event: {message}")]
    BadEvent {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Maps an I/O error to [`AuthoringError::Io`] naming `action` and `path`.
pub(super) fn io(
    action: &'static str,
    path: &std::path::Path,
) -> impl FnOnce(std::io::Error) -> AuthoringError {
    let path = path.to_owned();
    move |cause| AuthoringError::Io {
        action,
        path,
        cause,
    }
}
