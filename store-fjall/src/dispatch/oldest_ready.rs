//! Measures, every second, how long the oldest ready delivery of each running
//! plugin has waited for an instance slot: the queueing delay that admission
//! control's `oldest_ready` mark and `weir_oldest_ready_age_seconds` report.
//!
//! A paused or removed plugin is left out: its deliveries wait by an
//! operator's decision, not for lack of capacity, and must not make ingest
//! shed for everyone else. Deliveries behind an open circuit breaker are
//! deferred (scheduled, not ready), so they never count here.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::embedded::Embedded;
use crate::event::now_ms;
use crate::metrics::plugin as plugin_label;
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
        match oldest_ready_ms(&embedded) {
            Ok(waited_ms) => embedded.shared.backlog.set_oldest_ready_ms(waited_ms),
            Err(error) => tracing::error!(%error, "cannot measure how long ready deliveries wait"),
        }
    }
}

/// The longest wait over running plugins, updating each plugin's gauge.
fn oldest_ready_ms(embedded: &Embedded) -> Result<u64, QueueError> {
    let now = now_ms();
    let mut oldest = 0;
    for plugin in embedded.shared.plugins.all() {
        let mut waited_ms = 0;
        for (lane, cursor) in embedded.shared.lanes.of(&plugin.name).active() {
            if let Some(since) = embedded.queue.ready_since(&plugin.name, &lane, cursor)? {
                waited_ms = waited_ms.max(now.saturating_sub(since));
            }
        }
        embedded
            .shared
            .metrics
            .oldest_ready_age
            .get_or_create(&plugin_label(&plugin.name))
            .set(waited_ms as f64 / 1000.0);
        if plugin.gate.borrow().open() {
            oldest = oldest.max(waited_ms);
        }
    }
    Ok(oldest)
}
