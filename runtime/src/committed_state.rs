//! Where a handler's `state.get` reads committed plugin state: each storage
//! backend keeps it in its own place.

/// Committed plugin state, read synchronously (wasmtime calls imports so).
pub trait CommittedState: Send + Sync {
    /// `plugin`'s value of `key` for `tenant`, or why it cannot be read.
    fn state_get(&self, plugin: &str, tenant: &str, key: &str) -> StateRead;
}

/// A committed value as a handler read it, or why it cannot be read.
pub type StateRead = Result<Versioned, StateReadError>;

/// A committed value (none if the key is unset) and the store's version of
/// the key when it was read: a commit holds only if the key is still at
/// that version, so the store need not read it again (0 where a store keeps
/// no versions and compares values at commit instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Versioned {
    /// The value.
    pub value: Option<Vec<u8>>,
    /// The key's version when read (0: never written).
    pub version: u64,
}

/// Why committed state cannot be read. The attempt that asked fails with
/// `state_unavailable` and is retried; being the store's failure, not the
/// plugin's, it does not count against the plugin's health.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateReadError {
    /// The store cannot answer now (a cluster out of reach, shutting down);
    /// a later attempt may succeed.
    #[error("the store cannot be read now: {0}")]
    Unavailable(String),
    /// The stored value cannot be read back.
    #[error("the stored value is corrupt: {0}")]
    Corrupt(String),
}

impl Versioned {
    /// `value` from a store that keeps no versions.
    pub fn unversioned(value: Option<Vec<u8>>) -> Versioned {
        Versioned { value, version: 0 }
    }
}
