//! Retention: events whose deliveries are all finished are removed, with their
//! deliveries and idempotency records, once older than the retention. Removal
//! runs from the horizon (the oldest kept event) upwards and stops at the first
//! event that is too young or still has work pending, so the log stays a gapless
//! range that start-up can check.

use super::integrity::HORIZON;
use super::{DeliveryState, Queue, QueueError, keys};

impl Queue {
    /// Removes up to `limit` events ingested before `cutoff_ms`, from the
    /// horizon on; returns how many. Dead letters go with their event.
    pub fn remove_expired(&self, cutoff_ms: u64, limit: usize) -> Result<usize, QueueError> {
        let mut staging = self.stage();
        let horizon = self.horizon()?;
        let mut removed = 0;
        for guard in self.events.range(keys::seq(horizon)..).take(limit) {
            let (key, _) = guard.into_inner()?;
            let seq = keys::read_seq(&key)
                .ok_or_else(|| QueueError::Corrupt("malformed event key".into()))?;
            let Some(event) = self.event(seq)? else { break };
            let deliveries = self.deliveries_of(seq)?;
            let finished = deliveries.iter().all(|d| {
                matches!(
                    d.state,
                    DeliveryState::Done | DeliveryState::Dead | DeliveryState::Discarded
                )
            });
            if event.ingested_at_ms >= cutoff_ms || !finished {
                break;
            }
            let batch = staging.batch();
            batch.remove(&self.events, key.to_vec());
            batch.remove(
                &self.event_keys,
                keys::event_key(&event.id, &event.tenant, &event.source),
            );
            for delivery in &deliveries {
                batch.remove(&self.deliveries, keys::delivery(seq, &delivery.plugin));
                for generation in 0..=delivery.generation {
                    let key = keys::committed(&delivery.plugin, seq, generation);
                    batch.remove(&self.committed, key);
                }
                if delivery.state == DeliveryState::Dead {
                    batch.remove(&self.dead, keys::plugin_seq(&delivery.plugin, seq));
                }
            }
            removed += 1;
        }
        if removed > 0 {
            let new_horizon = horizon + removed as u64;
            staging
                .batch()
                .insert(&self.meta, HORIZON, keys::seq(new_horizon));
            staging.commit()?;
        }
        Ok(removed)
    }
}
