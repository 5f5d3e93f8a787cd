//! A delivery: one (event, plugin) pair, its state and its attempt history.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a delivery is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for a free instance slot of its plugin.
    Ready,
    /// Waiting for an earlier delivery with the same ordering key to finish.
    Waiting,
    /// Running now (or was, when the host stopped: recovered as ready at start-up).
    Leased,
    /// Parked because an operator paused its tenant; ready again on resume.
    Held,
    /// Waiting for its retry time.
    Scheduled,
    /// Handled; its effects are committed.
    Done,
    /// Given up on: failed, or out of attempts. Listed as a dead letter.
    Dead,
    /// A dead letter an operator discarded.
    Discarded,
}

/// One try at running the handler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// When it started (ms since the Unix epoch).
    pub started_at_ms: u64,
    /// How long it ran.
    pub duration_ms: u64,
    /// `ack`, `emit`, `retry_later`, `fail`, or a failure kind such as `out_of_fuel`.
    pub outcome: String,
    /// What went wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
    /// Fuel the handler burned.
    pub fuel_consumed: u64,
    /// The plugin version that ran it; none when it did not run.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub version: Option<String>,
}

/// What a done delivery produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryResult {
    /// `ack` or `emit`.
    pub outcome: String,
    /// Ids of the events the handler emitted.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub emitted: Vec<String>,
    /// How many state keys it wrote or deleted.
    pub state_writes: u32,
    /// When the result was committed (ms since the Unix epoch).
    pub committed_at_ms: u64,
}

/// The stored record of a delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryRecord {
    /// The plugin it goes to.
    pub plugin: String,
    /// Where it is in its life.
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// For scheduled deliveries, when the next attempt is due (ms since the Unix epoch).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub next_attempt_at_ms: Option<u64>,
    /// How many times it was re-run by a replay from the log; each run has its
    /// own idempotency record.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub generation: u32,
    /// How many times it was replayed from the dead letters.
    #[serde(skip_serializing_if = "is_zero", default)]
    pub replays: u32,
    /// Every attempt, oldest first (at most max attempts per round; each
    /// replay starts a new round).
    #[serde(default)]
    pub history: Vec<Attempt>,
    /// For done deliveries, what they produced.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub result: Option<DeliveryResult>,
    /// For dead deliveries, why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

impl DeliveryRecord {
    /// A new delivery, ready to run.
    pub fn ready(plugin: &str) -> DeliveryRecord {
        DeliveryRecord {
            plugin: plugin.to_owned(),
            state: DeliveryState::Ready,
            attempts: 0,
            next_attempt_at_ms: None,
            generation: 0,
            replays: 0,
            history: Vec::new(),
            result: None,
            error: None,
        }
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}
