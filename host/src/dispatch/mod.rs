//! Dispatch: a worker per plugin on the store the node runs ([`Workers`]),
//! and replay jobs ([`Replays`]). The embedded store's lease loop, timers
//! and delivery engine side live in `weir-store-fjall` (`dispatch`).

mod replay;

use std::sync::Arc;

pub use replay::{ReplayProgress, ReplaySpec, Replays};
use weir_core::tasks::Tasks;
pub use weir_store_fjall::dispatch::{
    FjallDeliveries, FjallLeased, run_timers, watch_oldest_ready,
};

use crate::backend::Backend;
use crate::plugins::Plugin;
use weir_core::Shared;

/// What it takes to start a plugin's worker, at start-up or when a reload adds one.
#[derive(Clone)]
pub struct Workers {
    /// The node's config, plugins, routes and metrics.
    pub shared: Shared,
    /// Where workers and deliveries run, and the stop they heed.
    pub tasks: Tasks,
    /// Where the deliveries come from.
    pub backend: Arc<dyn Backend>,
}

impl Workers {
    /// Starts `plugin`'s worker on the backend; whatever waits for it from
    /// an earlier run is found too.
    pub fn start(&self, plugin: Arc<Plugin>) {
        if self.tasks.stop.is_cancelled() {
            return;
        }
        self.backend.serve(&self.tasks, plugin);
    }
}
