//! Leasing: taking a ready delivery to run, and handing back leases a crash left.

use super::{DeliveryRecord, DeliveryState, Queue, QueueError, Seq, keys};
use crate::event::now_ms;

/// A delivery taken to run.
#[derive(Debug)]
pub struct Leased {
    /// The event's sequence number.
    pub seq: Seq,
    /// The plugin it goes to.
    pub plugin: String,
    /// Its record, with `attempts` already counting this attempt.
    pub record: DeliveryRecord,
}

impl Queue {
    /// Leases the first ready delivery of `plugin` at or after `from`, until
    /// `lease_ms` from now.
    ///
    /// Scanning from the caller's cursor skips the tombstones that earlier leases
    /// left at the head of the range. The lease write is not fsync'd: if it is
    /// lost in a crash the delivery is simply ready again.
    pub fn lease_next(
        &self,
        plugin: &str,
        from: Seq,
        lease_ms: u64,
    ) -> Result<Option<Leased>, QueueError> {
        let range = keys::plugin_seq(plugin, from)..=keys::plugin_seq(plugin, Seq::MAX);
        let Some(first) = self.ready.range(range).next() else {
            return Ok(None);
        };
        let key = first.key()?;
        let seq = keys::split_plugin_seq(&key)
            .map(|(_, seq)| seq)
            .ok_or_else(|| QueueError::Corrupt("malformed ready key".into()))?;
        let mut record = self.delivery(seq, plugin)?.ok_or_else(|| {
            QueueError::Corrupt(format!("ready delivery {seq}/{plugin} has no record"))
        })?;
        // Counted at lease time, so an event that crashes the host still runs out of attempts.
        record.attempts += 1;
        record.state = DeliveryState::Leased;
        let mut batch = self.db.batch();
        batch.remove(&self.ready, key.clone());
        batch.insert(
            &self.leased,
            key,
            keys::lease(now_ms() + lease_ms, record.attempts),
        );
        batch.insert(
            &self.deliveries,
            keys::delivery(seq, plugin),
            record.encode(),
        );
        batch.commit()?;
        Ok(Some(Leased {
            seq,
            plugin: plugin.to_owned(),
            record,
        }))
    }

    /// When the first ready delivery of `plugin` at or after `from` became
    /// ready (ms since the Unix epoch), if there is one.
    pub fn ready_since(&self, plugin: &str, from: Seq) -> Result<Option<u64>, QueueError> {
        let range = keys::plugin_seq(plugin, from)..=keys::plugin_seq(plugin, Seq::MAX);
        match self.ready.range(range).next() {
            Some(guard) => Ok(keys::read_seq(&guard.value()?)),
            None => Ok(None),
        }
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
    pub fn recover_leases(&self) -> Result<Vec<(String, Seq)>, QueueError> {
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
            staging.batch().remove(&self.leased, key.to_vec());
            staging.make_ready(seq, record);
        }
        Ok(staging.commit()?.readied)
    }
}
