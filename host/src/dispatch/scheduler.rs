//! Brings scheduled retries back to ready when they come due.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::event::now_ms;
use crate::pipeline::Pipeline;

/// Longest sleep between looks at the schedule, so a retry scheduled while this
/// task sleeps is at most this late.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Most retries promoted in one batch.
const PROMOTE_BATCH: usize = 1024;

/// Runs until `stop` is cancelled.
pub async fn promote_due_retries(pipeline: Arc<Pipeline>, stop: CancellationToken) {
    loop {
        let sleep = match pipeline.queue.next_due_ms() {
            Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms())).min(MAX_SLEEP),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(sleep) => {}
        }
        match pipeline.queue.promote_due(now_ms(), PROMOTE_BATCH) {
            Ok(promoted) => pipeline.deliveries_ready_again(&promoted),
            Err(error) => {
                tracing::error!(%error, "cannot promote due retries");
                pipeline.storage_failed(&error);
            }
        }
    }
}
