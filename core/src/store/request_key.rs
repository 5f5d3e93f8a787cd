//! A request's idempotency key, as ingest hands it to a store, and the
//! answer a store records for it.

use serde::{Deserialize, Serialize};

use super::Admission;

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

/// What a keyed request was answered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RequestRecord {
    /// The fingerprint of the request that set the key.
    pub fingerprint: String,
    /// When it was answered, in ms since the Unix epoch.
    pub created_ms: u64,
    /// Its answer: each event's id and whether it was a duplicate.
    pub admissions: Vec<Admission>,
}
