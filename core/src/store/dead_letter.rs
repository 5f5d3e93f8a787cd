//! A dead letter as every store reports it and the API shows it: the event,
//! the plugin, why it died; and what only one store knows, left out by the
//! other.

use serde::Serialize;
use utoipa::ToSchema;

use super::{Attempt, Seq};

/// One dead delivery with its event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DeadLetter {
    /// The event's id.
    pub id: String,
    /// The plugin the delivery went to.
    pub plugin: Option<String>,
    /// The event's tenant.
    pub tenant: String,
    /// The event's type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's source.
    pub source: String,
    /// Attempts made, in the last round.
    pub attempts: Option<u64>,
    /// The last error.
    pub error: Option<String>,
    /// The event's sequence number (the embedded store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Seq>,
    /// How many times it was replayed from the dead letters (the embedded
    /// store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replays: Option<u32>,
    /// Every attempt, oldest first (the embedded store).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Attempt>>,
    /// The replay generation it ran in (NATS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// Why it died: `fail`, or the failure kind of its last attempt (NATS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node it died on (NATS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// When it died, RFC 3339 (NATS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_at: Option<String>,
}
