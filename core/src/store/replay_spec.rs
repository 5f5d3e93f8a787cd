//! What a replay job asks a store to queue again.

use super::Seq;

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplaySpec {
    /// The plugin to run again.
    pub plugin: String,
    /// The first sequence number considered.
    pub from: Seq,
    /// The last sequence number considered.
    pub to: Seq,
    /// Only events ingested at or after this time (ms since the Unix epoch).
    pub since_ms: Option<u64>,
    /// Most deliveries queued per second.
    pub rate_per_sec: u32,
}
