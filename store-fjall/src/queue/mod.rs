//! The durable queue: every event, delivery, result, idempotency record and
//! plugin state lives in one fjall database, and every change that must be
//! atomic is one write batch (see `keys` for the layout).
//!
//! Ingest stages its requests' events in one batch (`Staging`) and shares the
//! fsync ([`Queue::persist`]); the dispatcher leases from the per-plugin,
//! per-lane `ready_lanes` index (`lease`); retries wait in `scheduled` until
//! due (`schedule`); a delivery's ending is one staged batch too.

pub use weir_event::codec;
mod dead;
mod disk_space;
mod effects;
mod event_log;
mod holders;
mod identity;
mod integrity;
mod journal_sync;
pub mod keys;
mod layout;
mod lease;
#[cfg(test)]
mod lease_tests;
mod lookahead;
mod migrate;
mod parking;
mod pauses;
mod recent_groups;
mod record_codec;
mod replay;
mod request_keys;
mod retention;
mod schedule;
mod staging;
#[cfg(test)]
mod staging_tests;
mod unsynced;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode, Readable};

pub use codec::CorruptEvent;
pub use dead::{DeadLetter, DeadPage};
use holders::{HolderChange, Holders};
pub use identity::StoredId;
use journal_sync::JournalSync;
pub use lease::{BeforeRun, LeaseRound, Leased};
use lookahead::Lookahead;
pub use pauses::PauseScope;
use recent_groups::RecentGroups;
pub use replay::Rerun;
pub use retention::KeptSweep;
pub use staging::{Pending, Staged, Staging};
use unsynced::Unsynced;
pub use weir_core::store::{
    Attempt, DeadFilter, DeliveryRecord, DeliveryResult, DeliveryState, Durability, Lane,
    RequestKey, RequestRecord, Seq, StoreError, Target,
};

use crate::event::Event;
use crate::runtime::{CommittedState, StateRead, Versioned};

/// A storage failure. Operators act on it; clients only see "try again later".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// fjall failed (I/O, or a poisoned database after a failed fsync).
    #[error("storage error: {0}")]
    Storage(#[from] fjall::Error),
    /// Another process has the queue open.
    #[error("another process holds the queue")]
    Locked,
    /// A stored record cannot be read back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The group committer has stopped (the host is shutting down).
    #[error("the queue is shutting down")]
    Closed,
    /// An event is missing from the middle of the log: the files are damaged.
    #[error(
        "the event log is damaged: event {expected} is missing (the next one stored is {found}); \
         weir will not start rather than skip events silently. Restore the data directory \
         from a backup, or move it aside to start empty"
    )]
    Damaged {
        /// The sequence number that should be there.
        expected: Seq,
        /// The one found in its place.
        found: Seq,
    },
    /// The disk is full: nothing was written.
    #[error("the disk is full; nothing was written")]
    DiskFull,
    /// An event has the identity of one stored before, with other content;
    /// nothing of its request was stored.
    #[error("{0}")]
    IdReused(String),
    /// The data directory is in a storage layout of a newer build.
    #[error(
        "the data directory was written by a newer weir (storage layout {found}; this build \
         reads layouts up to {current}): run that build, or restore the backup taken before \
         the upgrade",
        current = layout::CURRENT
    )]
    NewerLayout {
        /// The layout found.
        found: u32,
    },
    /// A write failed; nothing of it was stored.
    #[error("the write failed; nothing was stored: {0}")]
    WriteFailed(String),
}

impl From<CorruptEvent> for QueueError {
    fn from(e: CorruptEvent) -> Self {
        QueueError::Corrupt(e.to_string())
    }
}

impl From<QueueError> for StoreError {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::IdReused(message) => StoreError::IdReused(message),
            QueueError::DiskFull => StoreError::DiskFull,
            QueueError::WriteFailed(message) => StoreError::WriteFailed(message),
            QueueError::Closed | QueueError::Locked => StoreError::Unavailable(error.to_string()),
            QueueError::Corrupt(_)
            | QueueError::Damaged { .. }
            | QueueError::NewerLayout { .. } => StoreError::Corrupt(error.to_string()),
            QueueError::Storage(error) => StoreError::Io(error.to_string()),
        }
    }
}

impl From<serde_json::Error> for QueueError {
    fn from(e: serde_json::Error) -> Self {
        QueueError::Corrupt(format!("delivery record: {e}"))
    }
}

/// A queue in a fresh temporary directory, for tests; the directory goes
/// when the first value is dropped.
#[cfg(test)]
pub(crate) fn scratch() -> (tempfile::TempDir, Queue) {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = Queue::open(dir.path(), Durability::Buffered).expect("open");
    (dir, queue)
}

/// The sequence number of the last event in `events` (0 if there is none).
fn last_in(events: &Keyspace) -> Result<Seq, QueueError> {
    match events.last_key_value() {
        Some(guard) => {
            let (key, value) = guard.into_inner()?;
            event_log::Group::read(&key, value)?.last()
        }
        None => Ok(0),
    }
}

/// Largest in-memory write buffer per keyspace (fjall's default is 64 MiB).
/// A flood of ingest fills three keyspaces at once (event groups, their ids,
/// ready keys), each holding its active memtable and up to four sealed ones
/// waiting to be flushed, and a small key costs far more memory there than
/// its bytes. With 8 MiB, ten plugins and ten million deliveries waiting
/// peak at about 160 MiB in all (`benches/backlog.sh`), at the cost of more,
/// smaller flushes.
const MEMTABLE_BYTES: u64 = 8 << 20;
/// Block cache for reads; the hot part of the queue is its recent tail.
const BLOCK_CACHE_BYTES: u64 = 64 << 20;

/// The fjall database and its keyspaces.
pub struct Queue {
    db: Database,
    durability: Durability,
    /// Held by every [`Staging`], so the reads a change depends on hold until it
    /// commits. It guards the next event sequence number: a staging that is
    /// dropped uncommitted hands out no numbers, so the log has no gaps.
    write_lock: Mutex<Seq>,
    /// The directory fjall keeps its files in, whose free space tells a full
    /// disk behind a poisoned database.
    dir: PathBuf,
    /// Syncs the journal outside fjall's lock.
    journal: JournalSync,
    pub(crate) events: Keyspace,
    pub(crate) event_keys: Keyspace,
    pub(crate) deliveries: Keyspace,
    pub(crate) ready: Keyspace,
    /// A key per lease, with its attempt: what a start counts for the
    /// deliveries a stopped process was running.
    pub(crate) leased: Keyspace,
    /// The leases, in memory: a leased delivery stays in `ready`.
    holders: Holders,
    /// Deliveries found ready ahead of each lane's cursor by its last scan.
    lookahead: Lookahead,
    /// The event groups read last, for the next reads of their members.
    recent_groups: RecentGroups,
    /// The ingest group written and not yet synced, whose deliveries wait.
    pub(crate) unsynced: Unsynced,
    pub(crate) scheduled: Keyspace,
    /// No key in `scheduled` is due before this (ms): scans start here, past
    /// the tombstones of retries already promoted. Changed only under
    /// `write_lock`, which every writer of `scheduled` holds.
    due_floor: AtomicU64,
    pub(crate) dead: Keyspace,
    pub(crate) state: Keyspace,
    pub(crate) heads: Keyspace,
    pub(crate) waiting: Keyspace,
    pub(crate) held: Keyspace,
    /// Events past the retention kept below the horizon for their pending
    /// deliveries (`retention.rs`).
    pub(crate) kept: Keyspace,
    pub(crate) meta: Keyspace,
    pub(crate) request_keys: Keyspace,
    pub(crate) request_keys_by_time: Keyspace,
}

impl Queue {
    /// Opens (or creates) the queue in `dir`; [`Queue::persist`] makes writes as
    /// durable as `durability` says.
    pub fn open(dir: &Path, durability: Durability) -> Result<Queue, QueueError> {
        // weir decides when to fsync (group commit); fjall must not sync on its own.
        let db = Database::builder(dir)
            .manual_journal_persist(true)
            .cache_size(BLOCK_CACHE_BYTES)
            .open()
            .map_err(|error| match error {
                fjall::Error::Locked => QueueError::Locked,
                error => QueueError::Storage(error),
            })?;
        let options = || KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES);
        let keyspace = |name: &str| db.keyspace(name, options);
        let events = keyspace("events")?;
        let meta = keyspace("meta")?;
        // Before anything of the log is read: a newer layout is named as such.
        layout::check(&meta)?;
        let after_last = last_in(&events)? + 1;
        // Never below the horizon: retention may have removed every event
        // above one it keeps (or every event), and a number under the
        // horizon would be given twice and never be looked at again.
        let next_seq = after_last.max(integrity::read_horizon(&meta)?);
        let queue = Queue {
            event_keys: keyspace("event_keys")?,
            deliveries: keyspace("deliveries")?,
            ready: keyspace("ready_lanes")?,
            leased: keyspace("leased")?,
            holders: Holders::default(),
            lookahead: Lookahead::default(),
            recent_groups: RecentGroups::default(),
            scheduled: keyspace("scheduled")?,
            due_floor: AtomicU64::new(0),
            unsynced: Unsynced::default(),
            dead: keyspace("dead")?,
            state: keyspace("state")?,
            heads: keyspace("heads")?,
            waiting: keyspace("waiting")?,
            held: keyspace("held")?,
            kept: keyspace("kept")?,
            meta,
            request_keys: keyspace("request_keys")?,
            request_keys_by_time: keyspace("request_keys_by_time")?,
            events,
            durability,
            dir: dir.to_owned(),
            journal: JournalSync::new(dir),
            write_lock: Mutex::new(next_seq),
            db,
        };
        queue.migrate_legacy_ready()?;
        queue.migrate_legacy_identities()?;
        queue.drop_commit_records()?;
        Ok(queue)
    }

    /// Makes everything committed so far as durable as the configured
    /// [`Durability`]: what ingest does before it answers `202`.
    pub fn persist(&self) -> Result<(), QueueError> {
        match self.durability {
            Durability::Fsync => self.sync(),
            Durability::Buffered => Ok(self.db.persist(PersistMode::Buffer)?),
        }
    }

    /// Forces everything written so far to disk.
    pub fn sync(&self) -> Result<(), QueueError> {
        self.journal.sync(&self.db)
    }

    /// The sequence number of the newest event (0 if there is none).
    pub fn last_seq(&self) -> Result<Seq, QueueError> {
        last_in(&self.events)
    }

    /// The event at `seq`.
    pub fn event(&self, seq: Seq) -> Result<Option<Event>, QueueError> {
        self.read_member(seq, |member| member.event())
    }

    /// What `read` finds in the log's member `seq`, if it is stored.
    fn read_member<T>(
        &self,
        seq: Seq,
        read: impl FnOnce(event_log::Member<'_>) -> Result<T, QueueError>,
    ) -> Result<Option<T>, QueueError> {
        let group = match self.recent_groups.spanning(seq) {
            Some(group) => group,
            None => {
                let forgotten = self.recent_groups.forgotten();
                let scan = self.events.range(event_log::span(seq));
                let Some(group) = event_log::group_of(scan)? else {
                    return Ok(None);
                };
                // A group whose last member is damaged still gives the others.
                if let Ok(last) = group.last() {
                    self.recent_groups.keep(group.clone(), last, forgotten);
                }
                group
            }
        };
        group.member(seq)?.map(read).transpose()
    }

    /// The event at `seq` with every delivery it has, read through one
    /// snapshot: a plain keyspace read also sees a batch still being
    /// applied, and so could find an emitted event before its deliveries.
    pub fn event_with_deliveries(
        &self,
        seq: Seq,
    ) -> Result<Option<(Event, Vec<DeliveryRecord>)>, QueueError> {
        let snapshot = self.db.snapshot();
        let scan = snapshot.range(&self.events, event_log::span(seq));
        let Some(group) = event_log::group_of(scan)? else {
            return Ok(None);
        };
        let Some(member) = group.member(seq)? else {
            return Ok(None);
        };
        let records = snapshot
            .prefix(&self.deliveries, keys::seq(seq))
            .map(decode_delivery)
            .collect::<Result<_, QueueError>>()?;
        let deliveries = with_ready(records, &member.targets()?);
        let deliveries = deliveries
            .into_iter()
            .map(|record| self.as_leased(seq, record));
        Ok(Some((member.event()?, deliveries.collect())))
    }

    /// `record` as it is now if its delivery is leased: a lease is in
    /// memory, and its record on disk still says ready.
    fn as_leased(&self, seq: Seq, mut record: DeliveryRecord) -> DeliveryRecord {
        if let Some(hold) = self.holders.lease(&record.plugin, seq) {
            record.state = DeliveryState::Leased;
            record.attempts = hold.attempt;
        }
        record
    }

    /// The lane the deliveries of event `seq` wait in.
    pub fn lane_of(&self, seq: Seq) -> Result<Lane, QueueError> {
        let event = self
            .event(seq)?
            .ok_or_else(|| QueueError::Corrupt(format!("delivery of event {seq} has no event")))?;
        Ok(Lane::of(&event))
    }

    /// The delivery of event `seq` to `plugin`.
    pub fn delivery(&self, seq: Seq, plugin: &str) -> Result<Option<DeliveryRecord>, QueueError> {
        if let Some(bytes) = self.deliveries.get(keys::delivery(seq, plugin))? {
            return Ok(Some(record_codec::decode(plugin, &bytes)?));
        }
        let made = self.read_member(seq, |member| Ok(member.targets()?.contains(&plugin)))?;
        Ok((made == Some(true)).then(|| DeliveryRecord::ready(plugin)))
    }

    /// Every delivery of event `seq`, by plugin name.
    pub fn deliveries_of(&self, seq: Seq) -> Result<Vec<DeliveryRecord>, QueueError> {
        match self.read_member(seq, |member| self.deliveries_in(seq, Some(&member)))? {
            Some(deliveries) => Ok(deliveries),
            None => self.deliveries_in(seq, None),
        }
    }

    /// Every delivery of event `seq`, by plugin name: its records, and a
    /// ready one for each plugin `member` (its place in a group the caller
    /// holds, if it is still stored) names that has none. A sweep through
    /// old groups reads them this way without pushing the groups the leases
    /// use out of the cache.
    fn deliveries_in(
        &self,
        seq: Seq,
        member: Option<&event_log::Member<'_>>,
    ) -> Result<Vec<DeliveryRecord>, QueueError> {
        let targets = member.map(|member| member.targets()).transpose()?;
        let records = self
            .deliveries
            .prefix(keys::seq(seq))
            .map(decode_delivery)
            .collect::<Result<_, QueueError>>()?;
        Ok(with_ready(records, &targets.unwrap_or_default()))
    }

    /// One state value of (`plugin`, `tenant`).
    pub fn state_get(
        &self,
        plugin: &str,
        tenant: &str,
        key: &str,
    ) -> Result<Option<Vec<u8>>, QueueError> {
        let mut full = keys::state_prefix(plugin, tenant);
        full.extend_from_slice(key.as_bytes());
        Ok(self.state.get(full)?.map(|v| v.to_vec()))
    }

    /// Up to `limit` state entries of (`plugin`, `tenant`) in key order, after
    /// the key `after` if given.
    pub fn state_entries(
        &self,
        plugin: &str,
        tenant: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, QueueError> {
        use std::ops::Bound;
        let prefix = keys::state_prefix(plugin, tenant);
        let start = match after {
            Some(after) => Bound::Excluded([prefix.as_slice(), after.as_bytes()].concat()),
            None => Bound::Included(prefix.clone()),
        };
        let mut entries = Vec::new();
        for guard in self.state.range((start, Bound::Unbounded)).take(limit) {
            let (key, value) = guard.into_inner()?;
            let Some(name) = key.strip_prefix(prefix.as_slice()) else {
                break;
            };
            entries.push((String::from_utf8_lossy(name).into_owned(), value.to_vec()));
        }
        Ok(entries)
    }

    /// Deliveries not yet done or dead (ready or leased, scheduled, waiting,
    /// held), per plugin and tenant. Reads the event of each not in a lane, to
    /// learn its tenant.
    pub fn pending_counts(&self) -> Result<HashMap<(String, String), i64>, QueueError> {
        let mut counts: HashMap<(String, String), i64> = HashMap::new();
        for guard in self.ready.iter() {
            if let Some((plugin, lane, _)) = keys::split_ready(&guard.key()?) {
                *counts.entry((plugin.to_owned(), lane.tenant)).or_default() += 1;
            }
        }
        let mut count = |plugin: &str, seq: Seq| -> Result<(), QueueError> {
            let event = self.event(seq)?.ok_or_else(|| {
                QueueError::Corrupt(format!("pending delivery {seq}/{plugin} has no event"))
            })?;
            *counts.entry((plugin.to_owned(), event.tenant)).or_default() += 1;
            Ok(())
        };
        for guard in self.scheduled.iter() {
            if let Some((_, plugin, seq)) = keys::split_scheduled(&guard.key()?) {
                count(plugin, seq)?;
            }
        }
        for guard in self.waiting.iter() {
            let key = guard.key()?;
            let seq = key
                .len()
                .checked_sub(8)
                .and_then(|at| keys::read_seq(&key[at..]));
            if let (Some(plugin), Some(seq)) = (keys::plugin_of(&key), seq) {
                count(plugin, seq)?;
            }
        }
        for held in self.held_deliveries() {
            let (plugin, tenant, _) = held?;
            *counts.entry((plugin, tenant)).or_default() += 1;
        }
        Ok(counts)
    }
}

impl CommittedState for Queue {
    fn state_get(&self, plugin: &str, tenant: &str, key: &str) -> StateRead {
        // No versions: a commit compares the values read under the write lock.
        let read = || Queue::state_get(self, plugin, tenant, key).map(Versioned::unversioned);
        crate::failpoint::state_read(read)
    }
}

/// An event's delivery `records` with a ready one for each plugin of
/// `targets` that has none (a delivery's record is written once something
/// happens to it), by plugin name as records are stored.
fn with_ready(mut records: Vec<DeliveryRecord>, targets: &[&str]) -> Vec<DeliveryRecord> {
    for &plugin in targets {
        if !records.iter().any(|record| record.plugin == plugin) {
            records.push(DeliveryRecord::ready(plugin));
        }
    }
    records.sort_by(|a, b| a.plugin.cmp(&b.plugin));
    records
}

/// The record a `deliveries` entry holds, its plugin read from the key.
fn decode_delivery(guard: fjall::Guard) -> Result<DeliveryRecord, QueueError> {
    let (key, value) = guard.into_inner()?;
    let plugin = keys::plugin_of_delivery(&key)
        .ok_or_else(|| QueueError::Corrupt("malformed delivery key".into()))?;
    record_codec::decode(plugin, &value)
}
