//! Where a handler's `state.get` reads committed plugin state: each storage
//! backend keeps it in its own place.

/// Committed plugin state, read synchronously (wasmtime calls imports so).
pub trait CommittedState: Send + Sync {
    /// `plugin`'s value of `key` for `tenant`, or why it cannot be read.
    fn state_get(&self, plugin: &str, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, String>;
}
