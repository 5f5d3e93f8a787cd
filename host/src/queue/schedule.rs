//! Scheduled retries: deliveries waiting in `scheduled` until their due time.

use super::{Pending, Queue, QueueError, keys};

impl Queue {
    /// Moves up to `limit` deliveries due at or before `now_ms` back to ready.
    pub fn promote_due(&self, now_ms: u64, limit: usize) -> Result<Vec<Pending>, QueueError> {
        let mut staging = self.stage();
        for guard in self
            .scheduled
            .range(..(now_ms + 1).to_be_bytes())
            .take(limit)
        {
            let key = guard.key()?;
            let Some((_, plugin, seq)) = keys::split_scheduled(&key) else {
                continue;
            };
            let Some(record) = self.delivery(seq, plugin)? else {
                continue;
            };
            staging.batch().remove(&self.scheduled, key.to_vec());
            staging.make_ready(seq, record)?;
        }
        Ok(staging.commit()?.readied)
    }

    /// When the earliest scheduled retry is due (ms since the Unix epoch).
    pub fn next_due_ms(&self) -> Result<Option<u64>, QueueError> {
        match self.scheduled.first_key_value() {
            Some(guard) => Ok(keys::read_seq(&guard.key()?)),
            None => Ok(None),
        }
    }
}
