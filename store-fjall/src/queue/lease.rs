//! Leasing: taking a ready delivery to run, in memory (`holders`), with a
//! key per lease that counts its attempt should weir stop meanwhile; and
//! counting, at start-up, the attempts a stopped process left running.

use std::collections::VecDeque;

use fjall::{OwnedWriteBatch, PersistMode, Readable};

use super::holders::Hold;
use super::lookahead::KEPT_PER_LANE;
use super::{
    DeliveryRecord, DeliveryState, HolderChange, Lane, Pending, Queue, QueueError, Seq, keys,
    record_codec,
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
}

/// What a leased delivery is to do before its handler runs
/// ([`Queue::before_run`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeforeRun {
    /// Run it.
    Run,
    /// Its lease is no longer its own: it waited for a slot (a retry in
    /// place, or a lease taken ahead of one) past its deadline, and expiry
    /// or a stop ended the lease; whatever that did with the delivery
    /// stands.
    LeaseLost,
    /// It is done in this generation already: settle it without running.
    Committed,
}

/// Leases staged to be taken at once ([`Queue::write_leases`]).
#[derive(Default)]
pub struct LeaseRound {
    /// Their keys in `leased`.
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
    /// looks from past each delivery it staged: the round's leases are taken
    /// only once it is written, so its scans still see those as ready.
    ///
    /// Scanning from the caller's cursor skips the deliveries leased before
    /// it, which stay in the range until they end; what a scan finds ready
    /// past the one it takes is kept for the next leases (`lookahead`).
    pub fn stage_lease(
        &self,
        plugin: &str,
        lane: &Lane,
        from: Seq,
        lease_ms: u64,
        round: &mut LeaseRound,
    ) -> Result<Option<Leased>, QueueError> {
        let lane_key = keys::lane_prefix(plugin, lane);
        // A kept delivery is ready and unheld, and nothing else writes its
        // record meanwhile; one held or staged would mean the lookahead
        // went wrong, and a scan decides instead.
        let kept = (self.lookahead.take(&lane_key, from)).filter(|&seq| {
            !round.staged.contains(&seq) && self.holders.holder(plugin, seq).is_none()
        });
        let (seq, record) = match kept {
            Some(seq) => (seq, self.deliveries.get(keys::delivery(seq, plugin))?),
            None => match self.scan_ready(plugin, lane, &lane_key, from, round)? {
                Some(found) => found,
                None => return Ok(None),
            },
        };
        // A delivery ready since its event was stored has no record yet.
        let mut record = match record {
            Some(bytes) => record_codec::decode(plugin, &bytes)?,
            None => DeliveryRecord::ready(plugin),
        };
        // Counted in memory, and in the lease's key should weir stop before
        // it ends; the record is written once, by its ending.
        record.attempts += 1;
        record.state = DeliveryState::Leased;
        let until_ms = now_ms() + lease_ms;
        let batch = (round.batch)
            .get_or_insert_with(|| self.db.batch().durability(Some(PersistMode::Buffer)));
        batch.insert(
            &self.leased,
            keys::plugin_seq(plugin, seq),
            keys::lease(until_ms, record.attempts),
        );
        round.staged.push(seq);
        let token = self.holders.issue();
        let hold = Hold {
            token,
            attempt: record.attempts,
            until_ms,
        };
        round.holds.push(HolderChange::Hold {
            plugin: plugin.to_owned(),
            seq,
            hold,
        });
        Ok(Some(Leased {
            seq,
            plugin: plugin.to_owned(),
            lane: lane.clone(),
            record,
            lease_ms,
            token,
        }))
    }

    /// The first delivery of `plugin` ready in `lane` at or after `from`
    /// that is neither leased nor staged in `round`, with its record; keeps
    /// those found ready after it for the next leases of the lane.
    fn scan_ready(
        &self,
        plugin: &str,
        lane: &Lane,
        lane_key: &[u8],
        from: Seq,
        round: &LeaseRound,
    ) -> Result<Option<(Seq, Option<fjall::Slice>)>, QueueError> {
        let drops = self.holders.drops();
        let forgotten = self.lookahead.forgotten();
        // One snapshot for both reads. A keyspace read on its own reads past
        // the last batch fjall published, so it can see half of one still
        // being applied: under load a group commit's ready key showed up
        // without its delivery record, the lease failed as corrupt, and the
        // worker paused a second.
        let snapshot = self.db.snapshot();
        let range = keys::ready(plugin, lane, from)..=keys::ready(plugin, lane, Seq::MAX);
        let mut first = None;
        // The snapshot the first one's record is read through.
        let mut read_through = None;
        let mut ahead = VecDeque::new();
        for next in snapshot.range(&self.ready, range) {
            let key = next.key()?;
            let seq = keys::split_ready(&key)
                .map(|(_, _, seq)| seq)
                .ok_or_else(|| QueueError::Corrupt("malformed ready key".into()))?;
            if round.staged.contains(&seq) || self.holders.holder(plugin, seq).is_some() {
                continue;
            }
            // Not before its fsync: the lane is woken again once it returned,
            // and every later delivery of the lane is newer still.
            if self.unsynced.holds(seq) {
                break;
            }
            if first.is_some() {
                ahead.push_back(seq);
                if ahead.len() == KEPT_PER_LANE {
                    break;
                }
            // An ending drops its holder only once its batch, which took
            // this key away, is written: a key the snapshot still shows with
            // no holder may be one that ended since, if any lease was
            // dropped since, and is then read again, with its record, in a
            // snapshot of now (it may have been made ready again since,
            // with another record).
            } else if self.holders.drops() == drops {
                first = Some(seq);
            } else {
                let now = self.db.snapshot();
                if now.contains_key(&self.ready, &key)? {
                    first = Some(seq);
                    read_through = Some(now);
                }
            }
        }
        let Some(seq) = first else {
            return Ok(None);
        };
        // Those after it only if no lease was dropped during the scan, for
        // the same reason.
        if self.holders.drops() == drops {
            (self.lookahead).keep(lane_key.to_vec(), seq + 1, ahead, forgotten);
        }
        let read_through = read_through.as_ref().unwrap_or(&snapshot);
        let record = read_through.get(&self.deliveries, keys::delivery(seq, plugin))?;
        Ok(Some((seq, record)))
    }

    /// Whether `leased` still holds its lease: no expiry, stop or other
    /// ending took it since.
    pub fn holds(&self, leased: &Leased) -> bool {
        let lease = self.holders.lease(&leased.plugin, leased.seq);
        lease.is_some_and(|hold| {
            hold.token == leased.token && hold.attempt == leased.record.attempts
        })
    }

    /// What `leased` is to do before its handler runs. A done ending writes
    /// its result in the batch that takes the delivery out of its lane, and
    /// only a replay, in a new generation without the result, puts it back:
    /// a result in the record it was leased with would mean a path put it
    /// back by mistake, and it is settled rather than run twice.
    pub fn before_run(&self, leased: &Leased) -> BeforeRun {
        if !self.holds(leased) {
            BeforeRun::LeaseLost
        } else if leased.record.result.is_some() {
            BeforeRun::Committed
        } else {
            BeforeRun::Run
        }
    }

    /// Takes a round's leases: writes their keys at once, handed to the
    /// operating system before the attempts run, so an attempt that crashes
    /// weir still counts and a delivery that crashes it every time reaches
    /// its dead letter. They are not fsync'd: after a power loss a delivery
    /// is ready again with that attempt uncounted.
    pub fn write_leases(&self, round: LeaseRound) -> Result<(), QueueError> {
        if let Some(batch) = round.batch {
            batch.commit()?;
            self.holders.apply(round.holds);
        }
        Ok(())
    }

    /// When the first delivery of `plugin` ready in `lane` at or after `from`,
    /// and not leased, became ready (ms since the Unix epoch), if there is one.
    pub fn ready_since(
        &self,
        plugin: &str,
        lane: &Lane,
        from: Seq,
    ) -> Result<Option<u64>, QueueError> {
        let range = keys::ready(plugin, lane, from)..=keys::ready(plugin, lane, Seq::MAX);
        for guard in self.ready.range(range) {
            let (key, since) = guard.into_inner()?;
            let leased = keys::split_ready(&key)
                .is_some_and(|(_, _, seq)| self.holders.holder(plugin, seq).is_some());
            if !leased {
                return Ok(keys::read_seq(&since));
            }
        }
        Ok(None)
    }

    /// The lanes of `plugin` with a ready delivery (or a leased one, which
    /// stays in its lane), found by seeking from one lane to the next, so a
    /// deep lane costs no more than a shallow one.
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

    /// Leases whose deadline passed before `now_ms`, as (plugin, seq, lease).
    pub fn expired_leases(&self, now_ms: u64) -> Vec<(String, Seq, Hold)> {
        self.holders.leases(|hold| hold.until_ms < now_ms)
    }

    /// Makes ready again, at start-up and before anything is leased, every
    /// delivery a stopped process left leased, with the attempt it ran
    /// counted.
    pub fn recover_leases(&self) -> Result<Vec<Pending>, QueueError> {
        let mut staging = self.stage();
        self.stage_release(&mut staging)?;
        Ok(staging.commit()?.readied)
    }

    /// Ends every lease at shutdown, for the deliveries that did not finish
    /// within the grace period: each is made ready with the attempt it ran
    /// counted. Under the write lock: a straggling delivery that still tries
    /// to end finds its lease either still there or gone.
    pub fn release_leases(&self) -> Result<(), QueueError> {
        let mut staging = self.stage();
        for (plugin, seq, _) in self.holders.leases(|_| true) {
            staging.forget_lease(&plugin, seq);
        }
        self.stage_release(&mut staging)?;
        staging.commit()?;
        Ok(())
    }

    /// Stages making ready every delivery with a key in `leased`, with the
    /// attempt the key counted. The record already counts it if it was
    /// written by an earlier version's lease or by a retry in place.
    fn stage_release(&self, staging: &mut super::Staging<'_>) -> Result<(), QueueError> {
        for guard in self.leased.iter() {
            let (key, value) = guard.into_inner()?;
            staging.batch().remove(&self.leased, key.to_vec());
            let Some((plugin, seq)) = keys::split_plugin_seq(&key) else {
                continue;
            };
            let Some(mut record) = self.delivery(seq, plugin)? else {
                continue;
            };
            if let Some((_, attempt)) = keys::read_lease(&value) {
                record.attempts = record.attempts.max(attempt);
            }
            staging.make_ready(seq, record)?;
        }
        Ok(())
    }
}
