//! Logging into the host's structured log, which adds the plugin and event id.

use crate::bindings::weir::plugin::log as host;
pub use crate::bindings::weir::plugin::log::Level;

/// Logs `message` at `level`; `context` names the part of the plugin speaking.
pub fn log(level: Level, context: &str, message: impl AsRef<str>) {
    host::log(level, context, message.as_ref());
}

/// Logs at debug level.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, "", message);
}

/// Logs at info level.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, "", message);
}

/// Logs at warn level.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, "", message);
}

/// Logs at error level.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, "", message);
}
