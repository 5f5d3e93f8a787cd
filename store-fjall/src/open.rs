//! The embedded store's start and stop: what `weir serve` does to the
//! database in its data directory before it serves and after it stops.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use weir_core::Shared;
use weir_core::tasks::Tasks;

use crate::backend::Fjall;
use crate::dispatch::{run_timers, watch_oldest_ready};
use crate::embedded::Embedded;
use crate::group_commit::GroupCommitter;
use crate::queue::{PauseScope, Queue, QueueError};
use crate::retention::run_retention;

/// Why the embedded store cannot start, or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The database cannot be opened, read or synced.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The thread that writes ingest's groups cannot be started.
    #[error("cannot start the group-commit thread: {0}")]
    CommitThread(#[source] std::io::Error),
    /// A write failed while weir ran (a full disk, a failed fsync): what
    /// the store holds is not to be trusted until a restart checks it.
    #[error("a write to the store failed while weir ran")]
    StorageFailed,
}

/// The database's folder in `data_dir`.
pub fn queue_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("queue")
}

/// The embedded store while weir runs; [`Running::close`] ends it.
pub struct Running {
    embedded: Arc<Embedded>,
    /// Ends once the last [`Fjall`] (which holds the committer) is dropped.
    commit_thread: JoinHandle<()>,
}

/// Opens the database in `shared.config.data_dir`, checks its event log,
/// makes the deliveries leased when weir last stopped ready again, counts
/// the backlog, restores the operators' pauses and releases what a resume
/// left held; then starts the commit
/// thread, and on `tasks` the timers, retention and the oldest-ready watch.
pub fn open(shared: Shared, tasks: &Tasks) -> Result<(Fjall, Running), OpenError> {
    let queue = Queue::open(
        &queue_dir(&shared.config.data_dir),
        shared.config.durability,
    )?;
    let events = queue.check_sequence()?;
    tracing::info!(events, "the event log is intact");
    let recovered = queue.recover_leases()?;
    let pending = queue.pending_counts()?;
    let embedded = Arc::new(Embedded::new(shared, queue));
    restore_pauses(&embedded)?;
    release_unpaused(&embedded)?;
    for ((plugin, tenant), count) in &pending {
        embedded.pending_changed(plugin, tenant, *count);
    }
    if !recovered.is_empty() {
        tracing::warn!(
            count = recovered.len(),
            "deliveries leased when weir last stopped will run again, their attempts counted"
        );
    }
    let (committer, commit_thread) =
        GroupCommitter::start(embedded.clone()).map_err(OpenError::CommitThread)?;
    let stop = &tasks.stop;
    tasks
        .background
        .spawn(run_timers(embedded.clone(), stop.clone()));
    tasks
        .background
        .spawn(run_retention(embedded.clone(), stop.clone()));
    tasks
        .background
        .spawn(watch_oldest_ready(embedded.clone(), stop.clone()));
    let backend = Fjall::new(embedded.clone(), committer);
    Ok((
        backend,
        Running {
            embedded,
            commit_thread,
        },
    ))
}

/// Applies the pauses operators made before the last stop (a plugin's pause
/// reaches the plugin when it is loaded).
fn restore_pauses(embedded: &Embedded) -> Result<(), QueueError> {
    let shared = &embedded.shared;
    for tenant in embedded.queue.paused(PauseScope::Tenant)? {
        shared.tenant_pauses.set(&tenant, true);
        tracing::warn!(%tenant, "tenant paused by an operator before the last stop; still paused");
    }
    for plugin in embedded.queue.paused(PauseScope::Plugin)? {
        shared.plugins.set_paused(&plugin, true, &shared.metrics);
    }
    Ok(())
}

/// Releases the deliveries held for a tenant that is no longer paused:
/// weir stopped after it stored the tenant's resume and before it released
/// them all.
fn release_unpaused(embedded: &Embedded) -> Result<(), QueueError> {
    let pauses = &embedded.shared.tenant_pauses;
    for tenant in embedded.queue.held_tenants()? {
        if pauses.is_paused(&tenant) {
            continue;
        }
        let released =
            (embedded.queue).release_held(&tenant, |staging| embedded.commit(staging))?;
        tracing::warn!(%tenant, released, "deliveries held for a tenant resumed before the last stop run now");
    }
    Ok(())
}

impl Running {
    /// Ends the store once weir has stopped serving and its deliveries have
    /// ended or been given up on: the leases of those that did not end are
    /// released, with their attempts counted, so they run again after a
    /// restart. Waits for the commit thread, which drains once every
    /// [`Fjall`] is dropped, then syncs.
    pub async fn close(self) -> Result<(), OpenError> {
        if let Err(error) = self.embedded.queue.release_leases() {
            tracing::error!(%error, "cannot release the leases of unfinished deliveries; the next start will");
        }
        let commit_thread = self.commit_thread;
        let _ = tokio::task::spawn_blocking(move || commit_thread.join()).await;
        if !self.embedded.storage_ok() {
            return Err(OpenError::StorageFailed);
        }
        self.embedded.queue.sync()?;
        Ok(())
    }
}
