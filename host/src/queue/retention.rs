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
            batch.remove(&self.event_ids, event.id.as_bytes());
            for delivery in &deliveries {
                batch.remove(&self.deliveries, keys::delivery(seq, &delivery.plugin));
                for generation in 0..=delivery.generation {
                    let key = keys::idempotency(&delivery.plugin, &event.id, generation);
                    batch.remove(&self.idempotency, key);
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

/// Removes expired events until `stop` is cancelled: a few times per retention
/// period, at least once a minute.
pub async fn run_retention(
    pipeline: std::sync::Arc<crate::pipeline::Pipeline>,
    stop: tokio_util::sync::CancellationToken,
) {
    use std::time::Duration;
    let retention = pipeline.config.retention.retention;
    let interval = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        let cutoff = crate::event::now_ms().saturating_sub(retention.as_millis() as u64);
        // Bounded: each pass removes at most a full batch, and a short one ends the sweep.
        for _ in 0..1000 {
            let queue_task = pipeline.clone();
            let removed = tokio::task::spawn_blocking(move || {
                queue_task.queue.remove_expired(cutoff, REMOVE_BATCH)
            })
            .await;
            match removed {
                Ok(Ok(n)) if n == REMOVE_BATCH => continue,
                Ok(Ok(n)) => {
                    if n > 0 {
                        tracing::debug!(removed = n, "retention removed old events");
                    }
                    break;
                }
                Ok(Err(error)) => {
                    tracing::error!(%error, "retention cannot remove old events");
                    pipeline.storage_failed(&error);
                    break;
                }
                Err(_) => break,
            }
        }
        sweep_request_keys(&pipeline).await;
    }
}

/// Removes idempotency key records older than the dedup window.
async fn sweep_request_keys(pipeline: &std::sync::Arc<crate::pipeline::Pipeline>) {
    let window = pipeline.config.retention.dedup_window.as_millis() as u64;
    let cutoff = crate::event::now_ms().saturating_sub(window);
    // Bounded like the event sweep: a short batch ends it.
    for _ in 0..1000 {
        let queue_task = pipeline.clone();
        let swept = tokio::task::spawn_blocking(move || {
            queue_task
                .queue
                .remove_expired_request_keys(cutoff, REMOVE_BATCH)
        })
        .await;
        match swept {
            Ok(Ok(n)) if n == REMOVE_BATCH => continue,
            Ok(Ok(_)) | Err(_) => break,
            Ok(Err(error)) => {
                tracing::error!(%error, "retention cannot remove old idempotency keys");
                pipeline.storage_failed(&error);
                break;
            }
        }
    }
}
