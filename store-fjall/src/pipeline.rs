//! The parts every stage shares: config, queue, routes, dispatch lanes, metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::CancellationToken;

use crate::backlog::Backlog;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::metrics::tenant_series::TenantSeries;
use crate::plugins::Plugins;
use crate::queue::{Pending, Queue, QueueError, Staged, Staging, StoreError};
use crate::route::{RouteTable, Routes};
use crate::schedule::Lanes;
use weir_core::Shared;
use weir_core::tenant_pauses::TenantPauses;

/// Shared by ingest, dispatch and commit.
pub struct Pipeline {
    /// The validated configuration.
    pub config: Arc<Config>,
    /// The durable store.
    pub queue: Queue,
    /// Where events go; a reload of the config file swaps it.
    routes: Arc<Routes>,
    /// Each plugin's dispatch lanes (priority × tenant), their cursors into
    /// `ready` and the worker's wake-up.
    pub lanes: Arc<Lanes>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The loaded plugins; reloads change them.
    pub plugins: Arc<Plugins>,
    /// False once a write to storage failed: `/readyz` turns 503 and ingest stops.
    storage_ok: AtomicBool,
    /// True once a write failed because the disk is full: ingest then answers
    /// 507 rather than 503 until weir exits.
    disk_full: AtomicBool,
    /// Cancelled when storage fails: weir stops and exits for a restart.
    stop: CancellationToken,
    /// Deliveries not yet done or dead (the sum of `weir_queue_depth`), per tenant.
    pub backlog: Arc<Backlog>,
    /// Tenants an operator paused: their deliveries are held, not run.
    pub tenant_pauses: Arc<TenantPauses>,
    /// Which tenants have a series of their own in `weir_tenant_queue_depth`.
    tenant_series: TenantSeries,
}

impl Pipeline {
    /// Assembles the shared parts; a storage failure cancels `stop`.
    pub fn new(
        config: Config,
        queue: Queue,
        metrics: Metrics,
        plugins: Plugins,
        stop: CancellationToken,
    ) -> Pipeline {
        Pipeline {
            routes: Arc::new(Routes::new(config.routes.clone())),
            queue,
            lanes: Arc::new(Lanes::new(&config)),
            tenant_series: TenantSeries::new(config.tenant_series),
            metrics: Arc::new(metrics),
            plugins: Arc::new(plugins),
            storage_ok: AtomicBool::new(true),
            disk_full: AtomicBool::new(false),
            stop,
            backlog: Arc::default(),
            tenant_pauses: Arc::default(),
            config: Arc::new(config),
        }
    }

    /// Commits `staging`, counting and waking what it changed.
    pub fn commit(&self, staging: Staging<'_>) -> Result<(), QueueError> {
        let staged = self.write(staging)?;
        self.wake(&staged);
        Ok(())
    }

    /// Commits `staging` and counts the deliveries it adds, without waking
    /// them yet (see [`Pipeline::wake`]).
    pub fn write(&self, staging: Staging<'_>) -> Result<Staged, QueueError> {
        // Counted before the write: once the batch is in, a worker may lease,
        // run and finish one of its deliveries, and count it off, before this
        // thread runs again. A failed write poisons the store (every later
        // write fails too, and weir stops), so the count is not taken back.
        for pending in staging.added() {
            self.pending_changed(&pending.plugin, &pending.lane.tenant, 1);
        }
        staging.commit()
    }

    /// Wakes the lanes of the deliveries a committed change added or made ready again.
    pub fn wake(&self, staged: &Staged) {
        for pending in &staged.added {
            self.lanes.wake(&pending.plugin, &pending.lane, pending.seq);
        }
        self.deliveries_ready_again(&staged.readied);
    }

    /// Counts `change` more (or fewer) pending deliveries of `plugin` for
    /// `tenant`: in `weir_queue_depth` and in the backlog admission control
    /// looks at.
    pub fn pending_changed(&self, plugin: &str, tenant: &str, change: i64) {
        self.metrics
            .queue_depth
            .get_or_create(&crate::metrics::plugin(plugin))
            .inc_by(change);
        if let Some(label) = self.tenant_series.label(tenant) {
            self.metrics
                .tenant_queue_depth
                .get_or_create(&label)
                .inc_by(change);
        }
        self.backlog.change(tenant, change);
    }

    /// Call after deliveries moved back to ready (retries due, recovered leases).
    pub fn deliveries_ready_again(&self, deliveries: &[Pending]) {
        for pending in deliveries {
            self.lanes.wake(&pending.plugin, &pending.lane, pending.seq);
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
        if self.queue.failed_for_space(error) {
            self.disk_full.store(true, Ordering::Relaxed);
        }
        self.stop_for(error);
    }

    /// Records a failure the seam reports (see [`Pipeline::storage_failed`]).
    pub fn store_failed(&self, error: &StoreError) {
        match error {
            StoreError::DiskFull => self.disk_full.store(true, Ordering::Relaxed),
            StoreError::WriteFailed(_) | StoreError::Io(_) => {}
            _ => return,
        }
        self.stop_for(error);
    }

    fn stop_for(&self, error: &dyn std::fmt::Display) {
        if self.storage_ok.swap(false, Ordering::Relaxed) {
            tracing::error!(%error, "storage failed: weir stops admitting events and exits for a restart");
        }
        self.stop.cancel();
    }

    /// The routing table events are routed by now.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.routes.current()
    }

    /// Routes events by `table` from now on.
    pub fn set_routes(&self, table: RouteTable) {
        self.routes.set(table);
    }

    /// Cancelled when weir stops, for tasks started while it runs.
    pub fn stopping(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// The parts a store other than the embedded queue needs, as handles of
    /// their own.
    pub fn shared(&self) -> Shared {
        Shared {
            config: self.config.clone(),
            routes: self.routes.clone(),
            plugins: self.plugins.clone(),
            metrics: self.metrics.clone(),
            backlog: self.backlog.clone(),
            lanes: self.lanes.clone(),
            tenant_pauses: self.tenant_pauses.clone(),
            stop: self.stop.clone(),
        }
    }

    /// Whether storage has accepted every write so far.
    pub fn storage_ok(&self) -> bool {
        self.storage_ok.load(Ordering::Relaxed)
    }

    /// Whether storage failed because the disk is full.
    pub fn disk_full(&self) -> bool {
        self.disk_full.load(Ordering::Relaxed)
    }
}
