//! Leasing: taking a ready delivery to run, and handing back leases a crash left.

use fjall::{OwnedWriteBatch, PersistMode, Readable};

use super::{
    DeliveryRecord, DeliveryState, HolderChange, Lane, Pending, Queue, QueueError, Seq, keys,
};
use weir_event::now_ms;

/// A delivery taken to run.
#[derive(Debug)]
pub struct Leased {
    /// The event's sequence number.
    pub seq: Seq,
    /// The plugin it goes to.
    pub plugin: String,
    /// The lane it waited in.
    pub lane: Lane,
    /// Its record, with `attempts` already counting this attempt.
    pub record: DeliveryRecord,
    /// How long its lease lasts.
    pub lease_ms: u64,
    /// The token of this lease, which no other lease had: what an ending
    /// shows to write anything.
    pub token: u64,
    /// Until when (ms since the Unix epoch) a renewal for a retry in place
    /// holds the lease: meanwhile only this node can run the delivery.
    pub renewed_until_ms: Option<u64>,
}

/// Leases staged to be written at once ([`Queue::write_leases`]).
#[derive(Default)]
pub struct LeaseRound {
    batch: Option<OwnedWriteBatch>,
    /// The deliveries staged, which the round's reads still see as ready.
    staged: Vec<Seq>,
    /// Their leases, for the queue's holders once the round is written.
    holds: Vec<HolderChange>,
}

impl weir_core::schedule::LeasedAt for Leased {
    fn seq(&self) -> Seq {
        self.seq
    }

    fn lane(&self) -> &Lane {
        &self.lane
    }
}

impl Queue {
    /// Leases the first delivery of `plugin` ready in `lane` at or after
    /// `from`, until `lease_ms` from now: a round of one.
    pub fn lease_next(
        &self,
        plugin: &str,
        lane: &Lane,
        from: Seq,
        lease_ms: u64,
    ) -> Result<Option<Leased>, QueueError> {
        let mut round = LeaseRound::default();
        let leased = self.stage_lease(plugin, lane, from, lease_ms, &mut round)?;
        self.write_leases(round)?;
        Ok(leased)
    }

    /// Stages in `round` the lease of the first delivery of `plugin` ready
    /// in `lane` at or after `from`, until `lease_ms` from now. The caller
    /// looks from past each delivery it staged: the round's reads do not
    /// see its own writes.
    ///
    /// Scanning from the caller's cursor skips the tombstones that earlier leases
    /// left at the head of the range.
    pub fn stage_lease(
        &self,
        plugin: &str,
        lane: &Lane,
        from: Seq,
        lease_ms: u64,
        round: &mut LeaseRound,
    ) -> Result<Option<Leased>, QueueError> {
        // One snapshot for both reads. A keyspace read on its own reads past
        // the last batch fjall published, so it can see half of one still
        // being applied: under load a group commit's ready key showed up
        // without its delivery record, the lease failed as corrupt, and the
        // worker paused a second.
        let snapshot = self.db.snapshot();
        let range = keys::ready(plugin, lane, from)..=keys::ready(plugin, lane, Seq::MAX);
        let mut ready = snapshot.range(&self.ready, range);
        let (key, seq) = loop {
            let Some(next) = ready.next() else {
                return Ok(None);
            };
            let key = next.key()?;
            let seq = keys::split_ready(&key)
                .map(|(_, _, seq)| seq)
                .ok_or_else(|| QueueError::Corrupt("malformed ready key".into()))?;
            // One staged earlier in the round is still ready in the snapshot.
            if !round.staged.contains(&seq) {
                break (key, seq);
            }
        };
        // Not before its fsync: the lane is woken again once it returned,
        // and every later delivery of the lane is newer still.
        if self.unsynced.holds(seq) {
            return Ok(None);
        }
        let record = snapshot.get(&self.deliveries, keys::delivery(seq, plugin))?;
        let mut record = DeliveryRecord::decode(&record.ok_or_else(|| {
            QueueError::Corrupt(format!("ready delivery {seq}/{plugin} has no record"))
        })?)?;
        // Counted at lease time, so an event that crashes the host still runs out of attempts.
        record.attempts += 1;
        record.state = DeliveryState::Leased;
        let batch = (round.batch)
            .get_or_insert_with(|| self.db.batch().durability(Some(PersistMode::Buffer)));
        batch.remove(&self.ready, key);
        batch.insert(
            &self.leased,
            keys::plugin_seq(plugin, seq),
            keys::lease(now_ms() + lease_ms, record.attempts),
        );
        batch.insert(
            &self.deliveries,
            keys::delivery(seq, plugin),
            record.encode(),
        );
        round.staged.push(seq);
        let token = self.holders.issue();
        round.holds.push(HolderChange::Hold {
            plugin: plugin.to_owned(),
            seq,
            token,
        });
        Ok(Some(Leased {
            seq,
            plugin: plugin.to_owned(),
            lane: lane.clone(),
            record,
            lease_ms,
            token,
            renewed_until_ms: None,
        }))
    }

    /// Writes a round's leases at once. They reach the operating system
    /// before their attempts run, so an attempt that crashes weir still
    /// counts, and a delivery that crashes it every time reaches its dead
    /// letter. They are not fsync'd: after a power loss a delivery is ready
    /// again with that attempt uncounted.
    pub fn write_leases(&self, round: LeaseRound) -> Result<(), QueueError> {
        if let Some(batch) = round.batch {
            batch.commit()?;
            self.holders.apply(round.holds);
        }
        Ok(())
    }

    /// When the first delivery of `plugin` ready in `lane` at or after `from`
    /// became ready (ms since the Unix epoch), if there is one.
    pub fn ready_since(
        &self,
        plugin: &str,
        lane: &Lane,
        from: Seq,
    ) -> Result<Option<u64>, QueueError> {
        let range = keys::ready(plugin, lane, from)..=keys::ready(plugin, lane, Seq::MAX);
        match self.ready.range(range).next() {
            Some(guard) => Ok(keys::read_seq(&guard.value()?)),
            None => Ok(None),
        }
    }

    /// The lanes of `plugin` with a ready delivery, found by seeking from one
    /// lane to the next, so a deep lane costs no more than a shallow one.
    pub fn ready_lanes(&self, plugin: &str) -> Result<Vec<Lane>, QueueError> {
        use std::ops::Bound;
        let prefix = keys::plugin_prefix(plugin);
        let mut lanes = Vec::new();
        let mut from = Bound::Included(prefix.clone());
        while let Some(guard) = self.ready.range((from, Bound::Unbounded)).next() {
            let key = guard.key()?;
            if !key.starts_with(&prefix) {
                break;
            }
            let (_, lane, _) = keys::split_ready(&key)
                .ok_or_else(|| QueueError::Corrupt("malformed ready key".into()))?;
            from = Bound::Excluded(keys::ready(plugin, &lane, Seq::MAX));
            lanes.push(lane);
        }
        Ok(lanes)
    }

    /// Leases whose deadline passed before `now_ms`, as (plugin, seq, deadline, attempt).
    pub fn expired_leases(&self, now_ms: u64) -> Result<Vec<(String, Seq, u64, u32)>, QueueError> {
        let mut expired = Vec::new();
        for guard in self.leased.iter() {
            let (key, value) = guard.into_inner()?;
            let (Some((plugin, seq)), Some((deadline, attempt))) =
                (keys::split_plugin_seq(&key), keys::read_lease(&value))
            else {
                continue;
            };
            if deadline < now_ms {
                expired.push((plugin.to_owned(), seq, deadline, attempt));
            }
        }
        Ok(expired)
    }

    /// Returns every leased delivery to ready. Run at start-up, before dispatch
    /// (any lease then belongs to a process that is gone), and at shutdown for
    /// the deliveries that did not finish within the grace period.
    pub fn recover_leases(&self) -> Result<Vec<Pending>, QueueError> {
        // Under the write lock: at shutdown a straggling delivery may still try
        // to commit, and must find its lease either still there or gone.
        let mut staging = self.stage();
        for guard in self.leased.iter() {
            let key = guard.key()?;
            let Some((plugin, seq)) = keys::split_plugin_seq(&key) else {
                continue;
            };
            let Some(record) = self.delivery(seq, plugin)? else {
                continue;
            };
            staging.drop_lease(plugin, seq);
            staging.make_ready(seq, record)?;
        }
        Ok(staging.commit()?.readied)
    }
}
