//! The dispatcher's clock: brings scheduled retries back to ready when they come
//! due, and expires leases whose worker is gone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::embedded::Embedded;
use crate::event::now_ms;

/// Longest sleep between looks at the schedule, so a retry scheduled while this
/// task sleeps is at most this late.
const MAX_SLEEP: Duration = Duration::from_millis(100);
/// Most retries promoted in one batch.
const PROMOTE_BATCH: usize = 1024;
/// How often leases are checked for expiry: leases last seconds, and the check
/// scans every lease.
const EXPIRY_CHECK: Duration = Duration::from_secs(1);

/// Runs until `stop` is cancelled.
pub async fn run_timers(embedded: Arc<Embedded>, stop: CancellationToken) {
    let mut last_expiry_check = Instant::now();
    loop {
        let sleep = match embedded.queue.next_due_ms() {
            Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms())).min(MAX_SLEEP),
            _ => MAX_SLEEP,
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(sleep) => {}
        }
        match embedded.queue.promote_due(now_ms(), PROMOTE_BATCH) {
            Ok(promoted) => embedded.deliveries_ready_again(&promoted),
            Err(error) => {
                tracing::error!(%error, "cannot promote due retries");
                embedded.storage_failed(&error);
            }
        }
        if last_expiry_check.elapsed() >= EXPIRY_CHECK {
            last_expiry_check = Instant::now();
            if let Err(error) = super::expiry::expire_leases(&embedded, now_ms()) {
                tracing::error!(%error, "cannot expire leases");
                embedded.storage_failed(&error);
            }
        }
    }
}
