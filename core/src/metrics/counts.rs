//! What became of each plugin's deliveries since weir started: counted once,
//! into the Prometheus counters and into the per-plugin totals that
//! `GET /v1/plugins` shows.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::{FailureLabels, Metrics, plugin};

/// One plugin's totals.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct DeliveryCounts {
    /// Handled to completion (ack or emit).
    pub processed: u64,
    /// Attempts that did not complete, by reason.
    pub failed: BTreeMap<String, u64>,
    /// Attempts scheduled to run again.
    pub retried: u64,
    /// Deliveries given up on.
    pub dead: u64,
}

/// Every plugin's totals, by plugin name.
#[derive(Debug, Default)]
pub struct CountsByPlugin(Mutex<BTreeMap<String, DeliveryCounts>>);

impl CountsByPlugin {
    fn change(&self, name: &str, change: impl FnOnce(&mut DeliveryCounts)) {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match all.get_mut(name) {
            Some(counts) => change(counts),
            None => change(all.entry(name.to_owned()).or_default()),
        }
    }
}

impl Metrics {
    /// Counts a delivery of `name` handled to completion, `latency` after
    /// its event was ingested.
    pub fn delivery_processed(&self, name: &str, latency: Duration) {
        let label = plugin(name);
        self.deliveries_processed.get_or_create(&label).inc();
        self.event_latency
            .get_or_create(&label)
            .observe(latency.as_secs_f64());
        self.recent_latency.record(latency);
        self.counts.change(name, |counts| counts.processed += 1);
    }

    /// Counts an attempt of `name` that failed for `reason`.
    pub fn delivery_failed(&self, name: &str, reason: &str) {
        let labels = FailureLabels {
            plugin: name.to_owned(),
            reason: reason.to_owned(),
        };
        self.deliveries_failed.get_or_create(&labels).inc();
        self.counts.change(name, |counts| {
            *counts.failed.entry(reason.to_owned()).or_default() += 1;
        });
    }

    /// Counts an attempt of `name` scheduled to run again.
    pub fn delivery_retried(&self, name: &str) {
        self.deliveries_retried.get_or_create(&plugin(name)).inc();
        self.counts.change(name, |counts| counts.retried += 1);
    }

    /// Counts a delivery of `name` given up on.
    pub fn delivery_dead(&self, name: &str) {
        self.deliveries_dead.get_or_create(&plugin(name)).inc();
        self.counts.change(name, |counts| counts.dead += 1);
    }

    /// The totals over every plugin so far.
    pub fn delivery_totals(&self) -> DeliveryCounts {
        let all = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut totals = DeliveryCounts::default();
        for counts in all.values() {
            totals.processed += counts.processed;
            totals.retried += counts.retried;
            totals.dead += counts.dead;
            for (reason, count) in &counts.failed {
                *totals.failed.entry(reason.clone()).or_default() += count;
            }
        }
        totals
    }

    /// The totals of `name` so far.
    pub fn delivery_counts(&self, name: &str) -> DeliveryCounts {
        let all = self.counts.0.lock().unwrap_or_else(|p| p.into_inner());
        all.get(name).cloned().unwrap_or_default()
    }
}
