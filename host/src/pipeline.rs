//! The parts every stage shares: config, queue, routes, dispatch lanes, metrics.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::config::Config;
use crate::dispatch::Lanes;
use crate::metrics::Metrics;
use crate::queue::{Queue, QueueError, Seq, Staged, Staging};
use crate::route::RouteTable;

/// Shared by ingest, dispatch and commit.
pub struct Pipeline {
    /// The validated configuration.
    pub config: Config,
    /// The durable store.
    pub queue: Queue,
    /// Where events go.
    pub routes: RouteTable,
    /// One dispatch lane per plugin: its cursor into `ready` and its wake-up.
    pub lanes: Lanes,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// False once a write to storage failed: `/readyz` turns 503 and ingest stops.
    storage_ok: AtomicBool,
}

impl Pipeline {
    /// Assembles the shared parts.
    pub fn new(config: Config, queue: Queue, metrics: Metrics) -> Pipeline {
        Pipeline {
            routes: config.routes.clone(),
            config,
            queue,
            lanes: Lanes::default(),
            metrics,
            storage_ok: AtomicBool::new(true),
        }
    }

    /// Commits `staging`, then counts and wakes what it changed.
    pub fn commit(&self, staging: Staging<'_>) -> Result<(), QueueError> {
        let staged = staging.commit()?;
        self.staged(&staged);
        Ok(())
    }

    /// Counts the new deliveries of a committed change and wakes their lanes.
    pub fn staged(&self, staged: &Staged) {
        self.deliveries_added(&staged.added);
        self.deliveries_ready_again(&staged.readied);
    }

    fn deliveries_added(&self, deliveries: &[(String, Seq)]) {
        for (plugin, seq) in deliveries {
            self.metrics
                .queue_depth
                .get_or_create(&crate::metrics::plugin(plugin))
                .inc();
            self.lanes.wake(plugin, *seq);
        }
    }

    /// Call after deliveries moved back to ready (retries due, recovered leases).
    pub fn deliveries_ready_again(&self, deliveries: &[(String, Seq)]) {
        for (plugin, seq) in deliveries {
            self.lanes.wake(plugin, *seq);
        }
    }

    /// Records a storage failure. A poisoned database cannot be written again.
    pub fn storage_failed(&self, error: &QueueError) {
        if matches!(error, QueueError::Storage(fjall::Error::Poisoned)) {
            tracing::error!("the database is poisoned after a failed fsync; restart weir");
        }
        self.storage_ok.store(false, Ordering::Relaxed);
    }

    /// Whether storage has accepted every write so far.
    pub fn storage_ok(&self) -> bool {
        self.storage_ok.load(Ordering::Relaxed)
    }
}
