//! Replay on fjall: a delivery that finished is made ready again in a new
//! generation, in one batch per step; one still pending is left alone.

use std::ops::RangeInclusive;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::embedded::Embedded;
use crate::queue::{QueueError, Rerun, Seq};
use weir_core::store::{ReplaySpec, Requeue, Requeued, Reruns};

/// Requeues deliveries in `embedded`'s queue.
pub struct FjallRequeue {
    pub(super) embedded: Arc<Embedded>,
}

impl Requeue for FjallRequeue {
    fn requeue(&self, spec: &ReplaySpec, seqs: RangeInclusive<Seq>) -> BoxFuture<'_, Requeued> {
        let queued = self.queue_range(spec, seqs).inspect_err(|error| {
            // A failed write stops weir, as any other does.
            self.embedded.storage_failed(error);
        });
        async move { Ok(queued?) }.boxed()
    }
}

impl FjallRequeue {
    /// Queues the deliveries of events `seqs` that route to the plugin.
    fn queue_range(
        &self,
        spec: &ReplaySpec,
        seqs: RangeInclusive<Seq>,
    ) -> Result<Reruns, QueueError> {
        let embedded = &self.embedded;
        let queue = &embedded.queue;
        let mut staging = queue.stage();
        let mut reruns = Reruns::default();
        for seq in seqs {
            // Removed by retention, or never routed to this plugin: nothing to re-run.
            let Some(event) = queue.event(seq)? else {
                continue;
            };
            let too_old = spec
                .since_ms
                .is_some_and(|since| event.ingested_at_ms < since);
            if too_old || !embedded.routes().plugins_for(&event).contains(&spec.plugin) {
                continue;
            }
            match staging.rerun(seq, &event, &spec.plugin)? {
                Rerun::Queued => reruns.queued += 1,
                Rerun::Pending => reruns.pending += 1,
            }
        }
        embedded.commit(staging)?;
        Ok(reruns)
    }
}
