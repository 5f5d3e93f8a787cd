//! Key/value state, scoped by the host to this plugin and the event's tenant.
//!
//! Writes are buffered and committed with the outcome: a handler that fails or
//! retries leaves none behind, and reads see the handler's own earlier writes.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;
use crate::bindings::weir::plugin::state as host;

/// The raw bytes stored under `key`, if any.
pub fn get(key: &str) -> Option<Vec<u8>> {
    host::get(key)
}

/// Stores raw bytes under `key`.
pub fn set(key: &str, value: &[u8]) {
    host::set(key, value);
}

/// Removes `key` (nothing happens if it is absent).
pub fn delete(key: &str) {
    host::delete(key);
}

/// The JSON value stored under `key`, if any; the error names the key.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>, Error> {
    get(key)
        .map(|bytes| serde_json::from_slice(&bytes))
        .transpose()
        .map_err(|e| Error::new(format!("invalid JSON in state key {key}: {e}")))
}

/// Stores `value` as JSON under `key`.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| Error::new(format!("cannot serialize state key {key}: {e}")))?;
    set(key, &bytes);
    Ok(())
}
