//! The last minutes of the pipeline, one sample every [`SAMPLE_EVERY`], for
//! the dashboard's charts: kept in weir, so a page opened now shows the
//! minutes before it too.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::event::now_ms;
use crate::metrics::latency_window::Percentiles;
use weir_core::Shared;

/// How often the pipeline is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Samples kept: ten minutes.
const SAMPLES_KEPT: usize = 300;

/// One look at the pipeline. Counts are totals since weir started; the page
/// takes the difference of two samples for a rate.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sample {
    /// When it was taken, in ms since the Unix epoch.
    pub at_ms: u64,
    /// Events made durable.
    pub ingested: u64,
    /// Deliveries handled to completion, over all plugins.
    pub processed: u64,
    /// Attempts that did not complete, over all plugins and reasons.
    pub failed: u64,
    /// Attempts scheduled to run again.
    pub retried: u64,
    /// Deliveries given up on.
    pub dead: u64,
    /// Deliveries not yet done or dead, per tenant lane.
    pub queue_depth: BTreeMap<String, u64>,
    /// Ingest-to-commit latency of the deliveries committed since the sample
    /// before; absent if none was.
    pub latency_ms: Option<Percentiles>,
}

/// The samples, oldest first.
#[derive(Default)]
pub struct History(Mutex<VecDeque<Sample>>);

impl History {
    /// Every sample kept, oldest first.
    pub fn samples(&self) -> Vec<Sample> {
        let samples = self.0.lock().unwrap_or_else(|p| p.into_inner());
        samples.iter().cloned().collect()
    }

    fn push(&self, sample: Sample) {
        let mut samples = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if samples.len() == SAMPLES_KEPT {
            samples.pop_front();
        }
        samples.push_back(sample);
    }
}

/// Samples the node (`shared`) into `history` until `stop` is cancelled.
pub async fn sample(shared: Shared, history: Arc<History>, stop: CancellationToken) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        history.push(take(&shared));
    }
}

fn take(shared: &Shared) -> Sample {
    let metrics = &shared.metrics;
    let totals = metrics.delivery_totals();
    Sample {
        at_ms: now_ms(),
        ingested: metrics.events_ingested.get(),
        processed: totals.processed,
        failed: totals.failed.values().sum(),
        retried: totals.retried,
        dead: totals.dead,
        queue_depth: shared.backlog.tenants().into_iter().collect(),
        latency_ms: metrics.recent_latency.take(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(at_ms: u64) -> Sample {
        Sample {
            at_ms,
            ingested: 0,
            processed: 0,
            failed: 0,
            retried: 0,
            dead: 0,
            queue_depth: BTreeMap::new(),
            latency_ms: None,
        }
    }

    #[test]
    fn the_oldest_sample_goes_when_the_history_is_full() {
        let history = History::default();
        for at_ms in 0..SAMPLES_KEPT as u64 + 3 {
            history.push(at(at_ms));
        }
        let samples = history.samples();
        assert_eq!(samples.len(), SAMPLES_KEPT);
        assert_eq!(samples[0].at_ms, 3);
        assert_eq!(samples[SAMPLES_KEPT - 1].at_ms, SAMPLES_KEPT as u64 + 2);
    }
}
