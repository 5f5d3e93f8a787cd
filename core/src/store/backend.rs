//! The seam between weir and the store that holds its events: one trait,
//! [`Backend`], that both stores implement (the embedded fjall store of one
//! node, and NATS JetStream, which several nodes share), and the pages and
//! answers it passes. `[storage] backend` picks one at start-up.

use std::ops::RangeInclusive;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use super::{
    Append, Appended, DeadFilter, DeadLetter, EventRef, ReplaySpec, RequestRecord, Seq, StoreError,
    StoredEvent,
};
use crate::plugins::Plugin;
use crate::tasks::Tasks;

/// Plugin state entries, (key, value) in key order.
pub type StateEntries = Vec<(String, Vec<u8>)>;

/// A page of one plugin's state for one tenant.
#[derive(Debug, Clone)]
pub struct StatePage {
    /// The plugin.
    pub plugin: String,
    /// The tenant.
    pub tenant: String,
    /// Where the page starts: after this key, or at the first.
    pub after: Option<String>,
    /// At most this many entries.
    pub limit: usize,
}

/// A storage backend of the queue stage.
pub trait Backend: Send + Sync {
    /// Stores a round of ingest requests: each request's events with one
    /// delivery to each plugin the routes send them to, and the record of
    /// its idempotency key. Answers each request, in the round's order,
    /// once its events are durable. Each request is all or nothing: one
    /// refused (an identity reused with other content) stores nothing of
    /// itself and leaves the others alone. Requests that arrive together
    /// share their writes (group commit lives here, in the store).
    fn append(&self, round: Vec<Append>) -> BoxFuture<'_, Vec<Appended>>;

    /// Stores one ingest request, as a round of its own (and of whatever
    /// the store gathers with it).
    fn append_one(&self, request: Append) -> BoxFuture<'_, Appended> {
        let answers = self.append(vec![request]);
        Box::pin(async move {
            let answer = answers.await.into_iter().next();
            answer.unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "the store answered no request".into(),
                ))
            })
        })
    }

    /// Starts running `plugin`'s deliveries on `tasks` until they stop.
    fn serve(&self, tasks: &Tasks, plugin: Arc<Plugin>);

    /// Keeps an operator's pause (or resume) of `plugin`, for every node
    /// that shares the store and for the next start.
    fn set_plugin_paused(
        &self,
        plugin: &str,
        paused: bool,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Keeps an operator's pause (or resume) of `tenant`, for every node
    /// that shares the store and for the next start; the node's
    /// [`TenantPauses`](crate::tenant_pauses::TenantPauses) follow. A
    /// resume makes the tenant's held deliveries ready again and answers
    /// once they are, with how many this call released.
    fn set_tenant_paused(
        &self,
        tenant: &str,
        paused: bool,
    ) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// The one event `event` names, with its deliveries: not found if the
    /// store holds none, ambiguous if it holds several.
    fn event(&self, event: EventRef) -> BoxFuture<'_, Result<StoredEvent, StoreError>>;

    /// The entries of one page of plugin state.
    fn state_entries(&self, page: StatePage) -> BoxFuture<'_, Result<StateEntries, StoreError>>;

    /// One page of the dead letters.
    fn dead_letters(&self, page: DeadLetterPage) -> BoxFuture<'_, Result<DeadListing, StoreError>>;

    /// The dead letters of the latest events, latest first, at most `limit`
    /// (the dashboard's "recent dead letters").
    fn newest_dead_letters(
        &self,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<DeadLetter>, StoreError>>;

    /// Queues the dead deliveries of one event again, each with a fresh
    /// round of attempts; the plugins they go to.
    fn revive_event(&self, letters: EventLetters)
    -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// Drops the dead deliveries of one event for good; the plugins they went to.
    fn discard_event(
        &self,
        letters: EventLetters,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>>;

    /// Queues again up to `limit` dead deliveries that match `filter`,
    /// oldest first.
    fn revive_matching(
        &self,
        filter: DeadFilter,
        limit: usize,
    ) -> BoxFuture<'_, Result<Revived, StoreError>>;

    /// The event log as a replay of `plugin` starting now sees it.
    fn replay_log(&self, plugin: &str) -> BoxFuture<'_, Result<ReplayLog, StoreError>>;

    /// This node's name, where several nodes share the backend.
    fn node(&self) -> Option<&str>;

    /// Why this node cannot store events now, if it cannot.
    fn unready(&self) -> Option<Unready>;

    /// The answer recorded for a request with the idempotency key `key` in
    /// `scope`, if one is (every store records them, for the dedup window).
    fn request_record(
        &self,
        scope: &str,
        key: &str,
    ) -> BoxFuture<'_, Result<Option<RequestRecord>, StoreError>>;
}

/// Why a node's store takes no writes now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unready {
    /// The disk filled up: weir stops for a restart with room.
    DiskFull,
    /// A write failed: weir stops for a restart on storage it can trust.
    StorageFailed,
    /// The cluster the store lives in is out of reach; the client reconnects
    /// by itself.
    Disconnected,
}

impl Unready {
    /// How `/readyz` names it.
    pub fn status(self) -> &'static str {
        match self {
            Unready::DiskFull => "disk_full",
            Unready::StorageFailed => "storage_failed",
            Unready::Disconnected => "nats_disconnected",
        }
    }
}

/// Which dead letters to list: the matches of `filter`, oldest first, from
/// `cursor` (a listing's `next`) on, at most `limit`.
#[derive(Debug)]
pub struct DeadLetterPage {
    /// What they must match.
    pub filter: DeadFilter,
    /// Where the page starts.
    pub cursor: Option<Vec<u8>>,
    /// At most this many.
    pub limit: usize,
}

/// One event's dead deliveries, as a request names them.
#[derive(Debug, Clone)]
pub struct EventLetters {
    /// The event.
    pub event: EventRef,
    /// Only the delivery to this plugin.
    pub plugin: Option<String>,
}

impl EventLetters {
    /// What a store answers when the event has no dead delivery.
    pub fn none_found(&self) -> StoreError {
        let whose = (self.plugin.as_ref())
            .map(|plugin| format!(" to {plugin}"))
            .unwrap_or_default();
        let id = &self.event.id;
        StoreError::NotFound(format!("event {id:?} has no dead delivery{whose}"))
    }
}

/// What a bulk revival queued again.
#[derive(Debug, Clone, Default)]
pub struct Revived {
    /// The plugin of each delivery queued again.
    pub plugins: Vec<String>,
    /// Whether more dead deliveries match.
    pub more: bool,
}

/// A page of dead letters.
#[derive(Debug, Default)]
pub struct DeadListing {
    /// The letters.
    pub letters: Vec<DeadLetter>,
    /// Where the next page starts, if there may be one.
    pub next: Option<Vec<u8>>,
}

/// A replay job's view of the event log: the range stored when it began,
/// and how it queues deliveries of part of it again.
pub struct ReplayLog {
    /// The oldest sequence number stored when the job began.
    pub oldest: Seq,
    /// The newest.
    pub newest: Seq,
    /// What queues the deliveries; it holds no handle that keeps the
    /// backend's writer running.
    pub queue: Box<dyn Requeue>,
}

/// Queues deliveries of stored events again.
pub trait Requeue: Send + Sync {
    /// Queues `spec.plugin`'s deliveries of the events `seqs` that route to
    /// it once more, so its effects apply again.
    fn requeue(&self, spec: &ReplaySpec, seqs: RangeInclusive<Seq>) -> BoxFuture<'_, Requeued>;
}

/// What one step of a replay queued, or why it could not.
pub type Requeued = Result<Reruns, StoreError>;

/// What one step of a replay queued.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reruns {
    /// Deliveries queued to run again.
    pub queued: u64,
    /// Deliveries left alone because they had not finished yet.
    pub pending: u64,
}
