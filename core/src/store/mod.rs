//! The seam between weir and its stores ([`Backend`]) and the words the
//! layers share about stored events and deliveries: an event's position in
//! the log, the lane a delivery waits in, the deliveries a new event makes,
//! what an ingest `202` promises and what it answers, dead letters, replays.

mod append;
mod backend;
mod dead_filter;
mod dead_letter;
mod delivery;
mod error;
mod event_ref;
mod lane;
mod replay_spec;
mod request_key;

use serde::{Deserialize, Serialize};

pub use append::{Append, Appended};
pub use backend::{
    Backend, DeadLetterPage, DeadListing, EventLetters, ReplayLog, Requeue, Requeued, Reruns,
    Revived, StateEntries, StatePage, Unready,
};
pub use dead_filter::DeadFilter;
pub use dead_letter::DeadLetter;
pub use delivery::{Attempt, DeliveryRecord, DeliveryResult, DeliveryState};
pub use error::{StoreError, id_reused};
pub use event_ref::{EventRef, StoredEvent};
pub use lane::Lane;
pub use replay_spec::ReplaySpec;
pub use request_key::{RequestKey, RequestRecord};

/// An event's position in the log, assigned at commit.
pub type Seq = u64;

/// One delivery a new event makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The plugin it goes to.
    pub plugin: String,
    /// Whether it waits behind earlier deliveries with its event's
    /// `partitionkey` (when the event has one).
    pub ordered: bool,
}

/// What an ingest `202` promises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// fsync before answering: the events survive a power loss.
    #[default]
    Fsync,
    /// Hand the write to the operating system before answering: the events
    /// survive a crash of weir, not of the machine.
    Buffered,
}

/// What became of one submitted event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Admission {
    /// The event id (generated if the producer sent none).
    pub id: String,
    /// True if this event (same tenant, source, id and content) was already
    /// stored; nothing new was written.
    pub duplicate: bool,
}
