//! The parts every stage shares: config, queue, routes, dispatch lanes, metrics.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use tokio_util::sync::CancellationToken;

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
    /// Cancelled when storage fails: weir stops and exits for a restart.
    stop: CancellationToken,
    /// Deliveries not yet done or dead (the sum of `weir_queue_depth`).
    backlog: AtomicI64,
}

impl Pipeline {
    /// Assembles the shared parts; a storage failure cancels `stop`.
    pub fn new(
        config: Config,
        queue: Queue,
        metrics: Metrics,
        stop: CancellationToken,
    ) -> Pipeline {
        Pipeline {
            routes: config.routes.clone(),
            config,
            queue,
            lanes: Lanes::default(),
            metrics,
            storage_ok: AtomicBool::new(true),
            stop,
            backlog: AtomicI64::new(0),
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
            self.pending_changed(plugin, 1);
            self.lanes.wake(plugin, *seq);
        }
    }

    /// Counts `change` more (or fewer) pending deliveries of `plugin`: in
    /// `weir_queue_depth` and in the backlog admission control looks at.
    pub fn pending_changed(&self, plugin: &str, change: i64) {
        self.metrics
            .queue_depth
            .get_or_create(&crate::metrics::plugin(plugin))
            .inc_by(change);
        self.backlog.fetch_add(change, Ordering::Relaxed);
    }

    /// Deliveries not yet done or dead, over all plugins.
    pub fn backlog(&self) -> i64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Call after deliveries moved back to ready (retries due, recovered leases).
    pub fn deliveries_ready_again(&self, deliveries: &[(String, Seq)]) {
        for (plugin, seq) in deliveries {
            self.lanes.wake(plugin, *seq);
        }
    }

    /// Records a storage failure. A failed write (a poisoned database after a
    /// failed fsync, a full disk, an I/O error) stops admitting and stops weir,
    /// so that a supervisor restarts it on storage it can trust; a record that
    /// cannot be read only fails the request or delivery that met it.
    pub fn storage_failed(&self, error: &QueueError) {
        if !matches!(
            error,
            QueueError::Storage(_) | QueueError::DiskFull | QueueError::WriteFailed(_)
        ) {
            return;
        }
        if self.storage_ok.swap(false, Ordering::Relaxed) {
            tracing::error!(%error, "storage failed: weir stops admitting events and exits for a restart");
        }
        self.stop.cancel();
    }

    /// Cancelled when weir stops, for tasks started while it runs.
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Whether storage has accepted every write so far.
    pub fn storage_ok(&self) -> bool {
        self.storage_ok.load(Ordering::Relaxed)
    }
}
