//! Setting a leased delivery aside without counting its attempt:
//!
//! - **held** for a paused tenant: the dispatcher parks the delivery when it
//!   meets it (`held`: tenant ‖ 0x00 ‖ plugin ‖ 0x00 ‖ seq), and resuming the
//!   tenant makes them all ready again, in their order;
//! - **deferred** past an open route breaker: scheduled for when it may run.
//!
//! Either way the delivery is still pending and still heads its ordering key.

use super::{DeliveryRecord, DeliveryState, Leased, Queue, QueueError, Seq, Staging, keys};

/// Most deliveries one resume batch makes ready: each batch holds the write lock.
const RESUME_BATCH: usize = 1024;

impl Staging<'_> {
    /// Parks `leased` for `tenant`. Returns false, staging nothing, if the
    /// lease is no longer held by this attempt.
    pub fn hold(&mut self, leased: &Leased, tenant: &str) -> bool {
        let Some(mut record) = self.set_aside(leased) else {
            return false;
        };
        record.state = DeliveryState::Held;
        self.put_record(leased.seq, &record);
        let held = &self.queue().held;
        self.batch()
            .insert(held, keys::held(tenant, &leased.plugin, leased.seq), []);
        true
    }

    /// Schedules `leased` to be ready at `due_ms`. Returns false, staging
    /// nothing, if the lease is no longer held by this attempt.
    pub fn defer(&mut self, leased: &Leased, due_ms: u64) -> bool {
        let Some(mut record) = self.set_aside(leased) else {
            return false;
        };
        record.state = DeliveryState::Scheduled;
        record.next_attempt_at_ms = Some(due_ms);
        self.put_record(leased.seq, &record);
        self.schedule(due_ms, &leased.plugin, leased.seq);
        true
    }

    /// Ends the lease and returns the record with the attempt uncounted, or
    /// `None` if the lease is no longer held by this attempt.
    fn set_aside(&mut self, leased: &Leased) -> Option<DeliveryRecord> {
        if !self.end_lease(leased) {
            return None;
        }
        let mut record = leased.record.clone();
        record.attempts = record.attempts.saturating_sub(1);
        Some(record)
    }
}

impl Queue {
    /// Makes every delivery held for `tenant` ready again; returns how many.
    /// `commit` commits each batch (and wakes the lanes).
    pub fn release_held(
        &self,
        tenant: &str,
        mut commit: impl FnMut(Staging<'_>) -> Result<(), QueueError>,
    ) -> Result<u64, QueueError> {
        let prefix = keys::tenant_prefix(tenant);
        let mut released = 0;
        loop {
            let mut staging = self.stage();
            let mut batch = 0;
            for guard in self.held.prefix(&prefix).take(RESUME_BATCH) {
                let key = guard.key()?;
                let (plugin, seq) = keys::split_plugin_seq(&key[prefix.len()..])
                    .ok_or_else(|| QueueError::Corrupt("malformed held key".into()))?;
                let record = self.delivery(seq, plugin)?.ok_or_else(|| {
                    QueueError::Corrupt(format!("held delivery {seq}/{plugin} has no record"))
                })?;
                staging.batch().remove(&self.held, key.to_vec());
                staging.make_ready(seq, record)?;
                batch += 1;
            }
            if batch == 0 {
                return Ok(released);
            }
            commit(staging)?;
            released += batch;
        }
    }

    /// The tenants with deliveries held, found by seeking from one tenant
    /// to the next, so a tenant with many costs no more than one with one.
    pub fn held_tenants(&self) -> Result<Vec<String>, QueueError> {
        use std::ops::Bound;
        let malformed = || QueueError::Corrupt("malformed held key".into());
        let mut tenants = Vec::new();
        let mut from: Bound<Vec<u8>> = Bound::Unbounded;
        while let Some(guard) = self.held.range((from, Bound::Unbounded)).next() {
            let key = guard.key()?;
            let (tenant, _) = keys::split_held_tenant(&key).ok_or_else(malformed)?;
            // Past every key of this tenant: its name, then a byte above the separator.
            let mut next = tenant.as_bytes().to_vec();
            next.push(1);
            tenants.push(tenant.to_owned());
            from = Bound::Included(next);
        }
        Ok(tenants)
    }

    /// Deliveries held for paused tenants, as (plugin, tenant, seq).
    pub(super) fn held_deliveries(
        &self,
    ) -> impl Iterator<Item = Result<(String, String, Seq), QueueError>> + '_ {
        self.held.iter().map(|guard| {
            let key = guard.key()?;
            let parsed = keys::split_held_tenant(&key).and_then(|(tenant, rest)| {
                let (plugin, seq) = keys::split_plugin_seq(rest)?;
                Some((plugin.to_owned(), tenant.to_owned(), seq))
            });
            parsed.ok_or_else(|| QueueError::Corrupt("malformed held key".into()))
        })
    }
}
