//! A request's idempotency key, as ingest hands it to a store.

/// A request's idempotency key, where it applies, and what the request was.
#[derive(Debug, Clone)]
pub struct RequestKey {
    /// The tenant the key belongs to: keys of different tenants never meet.
    pub scope: String,
    /// The key as the client sent it.
    pub key: String,
    /// The SHA-256 (hex) of what the request sent: a key reused for another
    /// request is refused.
    pub fingerprint: String,
}
