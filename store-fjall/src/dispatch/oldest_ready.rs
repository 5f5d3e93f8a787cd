//! Measures, every second, how long the oldest ready delivery of each
//! plugin has waited for an instance slot (`weir_core::oldest_ready`).
//! Deliveries behind an open circuit breaker are deferred (scheduled, not
//! ready), so they never count here.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::embedded::Embedded;
use crate::event::now_ms;
use crate::queue::QueueError;

/// How often the wait is measured: admission reacts within this.
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// Runs until `stop` is cancelled.
pub async fn watch_oldest_ready(embedded: Arc<Embedded>, stop: CancellationToken) {
    let mut every = tokio::time::interval(MEASURE_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = now_ms();
        let measured = weir_core::oldest_ready::record(&embedded.shared, |plugin| {
            waited_ms(&embedded, &plugin.name, now)
        });
        if let Err(error) = measured {
            tracing::error!(%error, "cannot measure how long ready deliveries wait");
        }
    }
}

/// How long the oldest ready delivery of `plugin` has waited at `now`.
fn waited_ms(embedded: &Embedded, plugin: &str, now: u64) -> Result<u64, QueueError> {
    let mut waited_ms = 0;
    for (lane, cursor) in embedded.shared.lanes.of(plugin).active() {
        if let Some(since) = embedded.queue.ready_since(plugin, &lane, cursor)? {
            waited_ms = waited_ms.max(now.saturating_sub(since));
        }
    }
    Ok(waited_ms)
}
