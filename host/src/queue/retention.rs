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

/// Most events removed in one batch; the write lock is released between
/// batches, so ingest and commits never wait long.
const REMOVE_BATCH: usize = 1000;

/// Removes expired events, and idempotency key records past the dedup
/// window, until `stop` is cancelled: a few times per retention period, at
/// least once a minute.
pub async fn run_retention(
    pipeline: std::sync::Arc<crate::pipeline::Pipeline>,
    stop: tokio_util::sync::CancellationToken,
) {
    use std::time::Duration;
    let retention = pipeline.config.retention.retention;
    let window = pipeline.config.retention.dedup_window;
    let interval = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let cutoff = |age: Duration| crate::event::now_ms().saturating_sub(age.as_millis() as u64);
        let events = cutoff(retention);
        sweep(&pipeline, "events", move |queue| {
            queue.remove_expired(events, REMOVE_BATCH)
        })
        .await;
        let keys = cutoff(window);
        sweep(&pipeline, "idempotency keys", move |queue| {
            queue.remove_expired_request_keys(keys, REMOVE_BATCH)
        })
        .await;
    }
}

/// Runs `remove` (which removes up to a batch) until a batch comes back short.
async fn sweep(
    pipeline: &std::sync::Arc<crate::pipeline::Pipeline>,
    what: &'static str,
    remove: impl Fn(&Queue) -> Result<usize, QueueError> + Clone + Send + 'static,
) {
    // Bounded: each pass removes at most a full batch, and a short one ends the sweep.
    for _ in 0..1000 {
        let queue_task = pipeline.clone();
        let remove = remove.clone();
        let removed = tokio::task::spawn_blocking(move || remove(&queue_task.queue)).await;
        match removed {
            Ok(Ok(n)) if n == REMOVE_BATCH => continue,
            Ok(Ok(n)) => {
                if n > 0 {
                    tracing::debug!(removed = n, "retention removed old {what}");
                }
                break;
            }
            Ok(Err(error)) => {
                tracing::error!(%error, "retention cannot remove old {what}");
                pipeline.storage_failed(&error);
                break;
            }
            Err(_) => break,
        }
    }
}
