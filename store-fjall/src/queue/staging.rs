//! A change to the queue staged in one write batch, under the queue's write lock.
//!
//! The lock is what makes the reads behind a change hold until it commits: that
//! an ordering key has a head, that a lease is still ours, that the state a
//! handler read is unchanged. Every writer that depends on such a read stages
//! through here; only leasing, which touches nothing of that kind, writes
//! directly.

use std::collections::HashMap;
use std::sync::MutexGuard;

use fjall::{OwnedWriteBatch, PersistMode};

use super::event_log::GroupBuilder;
use super::holders::Hold;
use super::{
    DeliveryRecord, DeliveryState, HolderChange, Lane, Leased, Queue, QueueError, Seq, Target,
    keys, record_codec,
};
use weir_event::{Event, now_ms};

/// A batch being staged; nothing is written until [`Staging::commit`].
pub struct Staging<'q> {
    queue: &'q Queue,
    /// The queue's write lock, guarding its next sequence number.
    committed_seq: MutexGuard<'q, Seq>,
    /// The next sequence number as this staging hands them out.
    next_seq: Seq,
    pub(super) batch: OwnedWriteBatch,
    /// The events added, as the group they are stored in.
    log: GroupBuilder,
    /// Whether an ordering key has a head once this batch commits, for the keys
    /// the batch changed: a batch cannot read its own writes.
    heads: HashMap<Vec<u8>, bool>,
    /// Deliveries that became pending, to count and wake after the commit.
    added: Vec<Pending>,
    /// Deliveries this batch makes ready again, to wake after the commit.
    readied: Vec<Pending>,
    /// The earliest due time this batch schedules a retry for.
    pub(super) earliest_scheduled: Option<u64>,
    /// Where this batch, a promotion of due retries, leaves the due floor.
    pub(super) due_floor_raised: Option<u64>,
    /// The leases this batch ends, for the queue's holders.
    holder_changes: Vec<HolderChange>,
    /// Whether this batch makes a delivery stored before ready (again):
    /// what leases kept ahead may then have passed over it.
    readies_stored: bool,
    /// Whether this batch writes event groups again (retention's
    /// removals): what the recent groups kept may then hold stale.
    log_rewritten: bool,
    /// Whether this batch goes to the operating system when it commits
    /// (not an fsync): what a lease's key and its ending need, so that a
    /// stop of weir neither loses a counted attempt nor counts an ended one.
    to_os: bool,
}

/// A delivery that became pending: new, revived from the dead letters, or
/// queued again by a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The plugin it goes to.
    pub plugin: String,
    /// The lane it waits in (its event's priority and tenant).
    pub lane: Lane,
    /// Its event's sequence number.
    pub seq: Seq,
}

/// What a committed [`Staging`] changed, for the caller to count and wake.
#[derive(Debug, Default)]
pub struct Staged {
    /// Deliveries that became pending (ready, or waiting behind their ordering key).
    pub added: Vec<Pending>,
    /// Existing deliveries made ready.
    pub readied: Vec<Pending>,
}

impl Queue {
    /// Starts a change; the queue's other stagings wait until it commits or drops.
    pub fn stage(&self) -> Staging<'_> {
        let committed_seq = self
            .write_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Staging {
            queue: self,
            next_seq: *committed_seq,
            committed_seq,
            batch: self.db.batch(),
            log: GroupBuilder::default(),
            heads: HashMap::new(),
            added: Vec::new(),
            readied: Vec::new(),
            earliest_scheduled: None,
            due_floor_raised: None,
            holder_changes: Vec::new(),
            readies_stored: false,
            log_rewritten: false,
            to_os: false,
        }
    }
}

impl<'q> Staging<'q> {
    /// The queue this change is for.
    pub fn queue(&self) -> &'q Queue {
        self.queue
    }

    /// The batch, for writes with no ordering or lease rules of their own.
    pub fn batch(&mut self) -> &mut OwnedWriteBatch {
        &mut self.batch
    }

    /// Stores `event` under a new sequence number with one delivery per target.
    /// An ordered delivery whose ordering key already has a head waits behind it.
    pub fn add_event(&mut self, event: &Event, targets: &[Target]) -> Result<Seq, QueueError> {
        let queue = self.queue;
        let seq = self.next_seq;
        self.next_seq += 1;
        let lane = Lane::of(event);
        self.log.push(seq, event, targets);
        if self.log.is_full() {
            self.store_group();
        }
        self.batch.insert(
            &queue.event_keys,
            keys::event_key(&event.id, &event.tenant, &event.source),
            keys::seq(seq),
        );
        for Target { plugin, ordered } in targets {
            match event.partitionkey.as_ref().filter(|_| *ordered) {
                Some(partitionkey) => {
                    let key = keys::ordering(plugin, &event.tenant, partitionkey);
                    let has_head = match self.heads.get(&key) {
                        Some(&has_head) => has_head,
                        None => queue.heads.contains_key(&key)?,
                    };
                    if has_head {
                        let mut waiting = key.clone();
                        waiting.extend_from_slice(&keys::seq(seq));
                        self.batch.insert(&queue.waiting, waiting, []);
                        // A delivery that is not ready has a record from the start.
                        let mut record = DeliveryRecord::ready(plugin);
                        record.state = DeliveryState::Waiting;
                        self.put_record(seq, &record);
                    } else {
                        self.batch.insert(&queue.heads, key.clone(), keys::seq(seq));
                        self.index_ready(plugin, &lane, seq);
                    }
                    self.heads.insert(key, true);
                }
                None => self.index_ready(plugin, &lane, seq),
            }
            self.added.push(Pending {
                plugin: plugin.clone(),
                lane: lane.clone(),
                seq,
            });
        }
        Ok(seq)
    }

    /// Ends `leased`'s lease and stores its record as it is now; call it before
    /// adding the events the delivery emitted. Returns false,
    /// staging nothing, if the lease is no longer held by this attempt (it
    /// expired and the delivery was handed out again). A delivery that is
    /// finished (done or dead) hands its ordering key to the next in line.
    pub fn release(&mut self, leased: &Leased, event: &Event) -> Result<bool, QueueError> {
        if !self.end_lease(leased) {
            return Ok(false);
        }
        self.put_record(leased.seq, &leased.record);
        if matches!(
            leased.record.state,
            DeliveryState::Done | DeliveryState::Dead
        ) {
            self.pass_ordering_key(&leased.plugin, event, leased.seq)?;
        }
        Ok(true)
    }

    /// Ends `leased`'s lease, taking its delivery out of its lane, if it
    /// still holds it; false if it does not (the lease expired and the
    /// delivery was handed out again).
    pub(super) fn end_lease(&mut self, leased: &Leased) -> bool {
        if !self.holds(leased) {
            return false;
        }
        // To the OS with the batch, as the lease was: an ending lost in
        // fjall's buffer when weir stops would leave the lease's key, and
        // the next start would count an attempt again for a delivery that
        // ended (at the end of a crash-looping run, for its last ones each
        // time).
        self.to_os = true;
        let (plugin, seq) = (&leased.plugin, leased.seq);
        (self.batch).remove(&self.queue.ready, keys::ready(plugin, &leased.lane, seq));
        (self.batch).remove(&self.queue.leased, keys::plugin_seq(plugin, seq));
        self.forget_lease(plugin, seq);
        true
    }

    /// Drops the lease of (`seq`, `plugin`) once this change commits,
    /// whoever holds it.
    pub(super) fn forget_lease(&mut self, plugin: &str, seq: Seq) {
        let plugin = plugin.to_owned();
        self.holder_changes.push(HolderChange::Drop { plugin, seq });
    }

    /// Keeps `leased` leased to run again in place at `due_ms`: counts its
    /// next attempt and holds the lease until `lease_ms` past `due_ms`.
    /// False if this attempt no longer holds the lease.
    pub fn renew_lease(&mut self, leased: &mut Leased, due_ms: u64) -> bool {
        if !self.holds(leased) {
            return false;
        }
        leased.record.attempts += 1;
        // Counted before it runs, as a lease is.
        self.to_os = true;
        let until_ms = due_ms + leased.lease_ms;
        self.batch.insert(
            &self.queue.leased,
            keys::plugin_seq(&leased.plugin, leased.seq),
            keys::lease(until_ms, leased.record.attempts),
        );
        self.holder_changes.push(HolderChange::Hold {
            plugin: leased.plugin.clone(),
            seq: leased.seq,
            hold: Hold {
                token: leased.token,
                attempt: leased.record.attempts,
                until_ms,
            },
        });
        // Stored with when it runs next, for whoever reads it meanwhile;
        // the attempt that runs then ends with no such time.
        leased.record.next_attempt_at_ms = Some(due_ms);
        self.put_record(leased.seq, &leased.record);
        leased.record.next_attempt_at_ms = None;
        true
    }

    /// Whether `leased` still holds its lease, at the attempt it counted:
    /// checked before anything of an ending is staged, so an attempt that
    /// outlived its lease neither writes nor runs again, and an expiry
    /// listed before a retry in place renewed the lease ends nothing.
    pub fn holds(&self, leased: &Leased) -> bool {
        self.queue.holds(leased)
    }

    /// Stores the record of delivery (`seq`, `record.plugin`).
    pub fn put_record(&mut self, seq: Seq, record: &DeliveryRecord) {
        self.batch.insert(
            &self.queue.deliveries,
            keys::delivery(seq, &record.plugin),
            record_codec::encode(record),
        );
    }

    /// Makes delivery (`seq`, `record.plugin`) ready and stores its record.
    /// Its lane is read from the event.
    pub fn make_ready(&mut self, seq: Seq, record: DeliveryRecord) -> Result<(), QueueError> {
        let lane = self.queue.lane_of(seq)?;
        let pending = self.set_ready(seq, record, lane);
        self.readied.push(pending);
        Ok(())
    }

    /// Makes a finished delivery of `event` pending again: ready, counted in
    /// the backlog once the batch commits.
    pub(super) fn make_pending(&mut self, seq: Seq, record: DeliveryRecord, event: &Event) {
        let pending = self.set_ready(seq, record, Lane::of(event));
        self.added.push(pending);
    }

    fn set_ready(&mut self, seq: Seq, mut record: DeliveryRecord, lane: Lane) -> Pending {
        self.readies_stored = true;
        record.state = DeliveryState::Ready;
        record.next_attempt_at_ms = None;
        self.index_ready(&record.plugin, &lane, seq);
        self.put_record(seq, &record);
        Pending {
            plugin: record.plugin,
            lane,
            seq,
        }
    }

    /// Puts (`seq`, `plugin`) in `lane` of the ready index, stamped with the
    /// time it started waiting for a slot.
    fn index_ready(&mut self, plugin: &str, lane: &Lane, seq: Seq) {
        self.batch.insert(
            &self.queue.ready,
            keys::ready(plugin, lane, seq),
            keys::seq(now_ms()),
        );
    }

    /// The record of (`seq`, `plugin`) if that delivery is dead.
    pub(super) fn dead_record(
        &self,
        seq: Seq,
        plugin: &str,
    ) -> Result<Option<DeliveryRecord>, QueueError> {
        let record = self.queue.delivery(seq, plugin)?;
        Ok(record.filter(|record| record.state == DeliveryState::Dead))
    }

    /// Takes (`seq`, `plugin`) out of the dead-letter index.
    pub(super) fn remove_dead(&mut self, seq: Seq, plugin: &str) {
        self.batch
            .remove(&self.queue.dead, keys::plugin_seq(plugin, seq));
    }

    /// If delivery `seq` heads its ordering key, hands the key to the next
    /// delivery waiting on it (which becomes ready), or frees the key.
    fn pass_ordering_key(
        &mut self,
        plugin: &str,
        event: &Event,
        seq: Seq,
    ) -> Result<(), QueueError> {
        let Some(partitionkey) = &event.partitionkey else {
            return Ok(());
        };
        let queue = self.queue;
        let key = keys::ordering(plugin, &event.tenant, partitionkey);
        let head = queue.heads.get(&key)?.as_deref().and_then(keys::read_seq);
        if head != Some(seq) {
            return Ok(());
        }
        // Every delivery waiting on the key came after its head, so the scan
        // starts past it: the tombstones of earlier hand-overs, which lie
        // before, are never walked again.
        let after_head = [key.as_slice(), &keys::seq(seq + 1)].concat();
        let last = [key.as_slice(), &keys::seq(Seq::MAX)].concat();
        let next = match queue.waiting.range(after_head..=last).next() {
            Some(guard) => Some(guard.key()?),
            None => None,
        };
        let Some(waiting_key) = next else {
            self.batch.remove(&queue.heads, key.clone());
            self.heads.insert(key, false);
            return Ok(());
        };
        let next_seq = keys::read_seq(&waiting_key[key.len()..])
            .ok_or_else(|| QueueError::Corrupt("malformed waiting key".into()))?;
        let record = queue.delivery(next_seq, plugin)?.ok_or_else(|| {
            QueueError::Corrupt(format!(
                "waiting delivery {next_seq}/{plugin} has no record"
            ))
        })?;
        self.batch.remove(&queue.waiting, waiting_key.to_vec());
        self.batch
            .insert(&queue.heads, key.clone(), keys::seq(next_seq));
        self.heads.insert(key, true);
        self.make_ready(next_seq, record)
    }

    /// The sequence numbers this change gives its new events.
    pub fn new_seqs(&self) -> std::ops::Range<Seq> {
        *self.committed_seq..self.next_seq
    }

    /// The deliveries this change makes pending so far.
    pub fn added(&self) -> &[Pending] {
        &self.added
    }

    /// Notes that this batch writes event groups again.
    pub(super) fn rewrites_log(&mut self) {
        self.log_rewritten = true;
    }

    /// Stages the events added since the last group as one. Stored last in
    /// the batch, after its events' identities and deliveries: a reader
    /// from those to the event goes through a snapshot, which sees the
    /// whole batch or none of it.
    fn store_group(&mut self) {
        if let Some((key, value)) = self.log.take() {
            self.batch.insert(&self.queue.events, key, value);
        }
    }

    /// Writes the batch (not synced: see [`Queue::persist`] for durability).
    pub fn commit(mut self) -> Result<Staged, QueueError> {
        self.store_group();
        let to_os = self.to_os.then_some(PersistMode::Buffer);
        self.batch.durability(to_os).commit()?;
        self.queue.holders.apply(self.holder_changes);
        // Before the lanes are woken: a lease from a cursor before such a
        // delivery must scan, and find it.
        if self.readies_stored {
            self.queue.lookahead.forget();
        }
        // Before the write lock goes: a reader under it must not find a
        // removed event in a group kept from before.
        if self.log_rewritten {
            self.queue.recent_groups.forget();
        }
        *self.committed_seq = self.next_seq;
        self.queue
            .move_due_floor(self.due_floor_raised, self.earliest_scheduled);
        Ok(Staged {
            added: self.added,
            readied: self.readied,
        })
    }
}
