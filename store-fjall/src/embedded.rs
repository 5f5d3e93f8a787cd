//! The embedded store's state: the queue, with the node's shared parts that
//! its writes count and wake.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::metrics::tenant_series::TenantSeries;
use crate::queue::{Pending, Queue, QueueError, Staged, Staging, StoreError};
use crate::route::RouteTable;
use weir_core::Shared;

/// Shared by the embedded store's ingest, dispatch and commit.
pub struct Embedded {
    /// The node's config, routes, plugins, metrics, backlog, lanes and pauses.
    pub shared: Shared,
    /// The durable store (also what handlers read committed state from).
    pub queue: Arc<Queue>,
    /// False once a write to storage failed: `/readyz` turns 503 and ingest stops.
    storage_ok: AtomicBool,
    /// True once a write failed because the disk is full: ingest then answers
    /// 507 rather than 503 until weir exits.
    disk_full: AtomicBool,
    /// Which tenants have a series of their own in `weir_tenant_queue_depth`.
    tenant_series: TenantSeries,
}

impl Embedded {
    /// `queue` with the node's `shared` parts; a storage failure cancels
    /// `shared.stop`.
    pub fn new(shared: Shared, queue: Queue) -> Embedded {
        Embedded {
            tenant_series: TenantSeries::new(shared.config.tenant_series),
            queue: Arc::new(queue),
            storage_ok: AtomicBool::new(true),
            disk_full: AtomicBool::new(false),
            shared,
        }
    }

    /// Commits `staging`, counting and waking what it changed.
    pub fn commit(&self, staging: Staging<'_>) -> Result<(), QueueError> {
        let staged = self.write(staging)?;
        self.wake(&staged);
        Ok(())
    }

    /// Commits `staging` and counts the deliveries it adds, without waking
    /// them yet (see [`Embedded::wake`]).
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
            self.shared
                .lanes
                .wake(&pending.plugin, &pending.lane, pending.seq);
        }
        self.deliveries_ready_again(&staged.readied);
    }

    /// Counts `change` more (or fewer) pending deliveries of `plugin` for
    /// `tenant`: in `weir_queue_depth` and in the backlog admission control
    /// looks at.
    pub fn pending_changed(&self, plugin: &str, tenant: &str, change: i64) {
        self.shared
            .metrics
            .queue_depth
            .get_or_create(&crate::metrics::plugin(plugin))
            .inc_by(change);
        if let Some(label) = self.tenant_series.label(tenant) {
            self.shared
                .metrics
                .tenant_queue_depth
                .get_or_create(&label)
                .inc_by(change);
        }
        self.shared.backlog.change(tenant, change);
    }

    /// Call after deliveries moved back to ready (retries due, recovered leases).
    pub fn deliveries_ready_again(&self, deliveries: &[Pending]) {
        for pending in deliveries {
            self.shared
                .lanes
                .wake(&pending.plugin, &pending.lane, pending.seq);
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

    /// Records a failure the seam reports (see [`Embedded::storage_failed`]).
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
        self.shared.stop.cancel();
    }

    /// The routing table events are routed by now.
    pub fn routes(&self) -> Arc<RouteTable> {
        self.shared.routes.current()
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
