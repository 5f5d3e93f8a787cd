//! Where a node's long-running work runs, so that shutdown can stop it and
//! wait for what is in flight.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The task sets a store starts its workers on.
#[derive(Clone)]
pub struct Tasks {
    /// Cancelled when weir stops.
    pub stop: CancellationToken,
    /// Where workers run, so shutdown waits for them.
    pub background: TaskTracker,
    /// Where deliveries run, so shutdown can wait for the ones in flight.
    pub deliveries: TaskTracker,
}
