//! The plugin's configuration values from `weir.toml`.

use std::fmt::Display;
use std::str::FromStr;

use crate::Error;
use crate::bindings::weir::plugin::config as host;

/// The value of `key`, if configured.
pub fn get(key: &str) -> Option<String> {
    host::get(key)
}

/// The value of `key`, or `default` if it is not configured.
pub fn get_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_owned())
}

/// Every configured key and value.
pub fn all() -> Vec<(String, String)> {
    host::get_all()
}

/// The value of `key` parsed as `T`, or `default` if it is not configured;
/// a value that does not parse is an error naming the key.
pub fn parse_or<T>(key: &str, default: T) -> Result<T, Error>
where
    T: FromStr,
    T::Err: Display,
{
    match get(key) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e| Error::new(format!("invalid config value {key} = {raw:?}: {e}"))),
    }
}
