//! The retention task: a few times per retention period it removes expired
//! events, then the events kept past the retention that have finished since,
//! and idempotency key records past the dedup window, a batch at a time (the
//! store's `remove_expired`, `remove_finished_kept` and
//! `remove_expired_request_keys`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::embedded::Embedded;
use crate::queue::{KeptSweep, Queue, QueueError};

/// Most events removed in one batch; the write lock is released between
/// batches, so ingest and commits never wait long.
const REMOVE_BATCH: usize = 1000;

/// Removes expired events, and idempotency key records past the dedup
/// window, until `stop` is cancelled: at start-up (so what expired while
/// weir was down goes, and the count of kept events is there at once), then
/// a few times per retention period, at least once a minute.
pub async fn run_retention(embedded: Arc<Embedded>, stop: CancellationToken) {
    let retention = embedded.shared.config.retention.retention;
    let window = embedded.shared.config.retention.dedup_window;
    let interval = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    loop {
        let cutoff = |age: Duration| crate::event::now_ms().saturating_sub(age.as_millis() as u64);
        let events = cutoff(retention);
        sweep(&embedded, "events", move |queue| {
            queue.remove_expired(events, REMOVE_BATCH)
        })
        .await;
        sweep_kept(&embedded).await;
        let keys = cutoff(window);
        sweep(&embedded, "idempotency keys", move |queue| {
            queue.remove_expired_request_keys(keys, REMOVE_BATCH)
        })
        .await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

/// Runs `remove` (which removes up to a batch) until a batch comes back short.
async fn sweep(
    embedded: &Arc<Embedded>,
    what: &'static str,
    remove: impl Fn(&Queue) -> Result<usize, QueueError> + Clone + Send + 'static,
) {
    // Bounded: each pass removes at most a full batch, and a short one ends the sweep.
    for _ in 0..1000 {
        let remove = remove.clone();
        let Some(removed) = on_queue(embedded, what, move |queue| remove(queue)).await else {
            break;
        };
        if removed == REMOVE_BATCH {
            continue;
        }
        if removed > 0 {
            tracing::debug!(removed, "retention removed old {what}");
        }
        break;
    }
}

/// Looks through every event kept past the retention, a batch at a time,
/// removes those whose deliveries have all finished since, and counts the
/// rest.
async fn sweep_kept(embedded: &Arc<Embedded>) {
    let mut from = 0;
    let mut kept = 0;
    // Bounded: each pass moves `from` on by a full batch, or ends the sweep.
    for _ in 0..100_000 {
        let look = move |queue: &Queue| queue.remove_finished_kept(from, REMOVE_BATCH);
        let Some(KeptSweep {
            removed,
            still_kept,
            next,
        }) = on_queue(embedded, "events kept past it", look).await
        else {
            break;
        };
        if removed > 0 {
            tracing::debug!(removed, "retention removed events kept past it");
        }
        kept += still_kept;
        match next {
            Some(next) => from = next,
            None => {
                let gauge = &embedded.shared.metrics.events_kept_past_retention;
                gauge.set(kept as i64);
                break;
            }
        }
    }
}

/// Runs `work` on the queue off the async workers. `None` if it failed
/// (the storage error is logged, and stops weir) or did not finish.
async fn on_queue<T: Send + 'static>(
    embedded: &Arc<Embedded>,
    what: &str,
    work: impl FnOnce(&Queue) -> Result<T, QueueError> + Send + 'static,
) -> Option<T> {
    let queue_task = embedded.clone();
    match tokio::task::spawn_blocking(move || work(&queue_task.queue)).await {
        Ok(Ok(done)) => Some(done),
        Ok(Err(error)) => {
            tracing::error!(%error, "retention cannot remove old {what}");
            embedded.storage_failed(&error);
            None
        }
        Err(_) => None,
    }
}
