//! The embedded store's side of the delivery engine and its lease loop
//! (`weir_core::deliver`): a delivery leased from the fjall queue, how it is
//! held while its tenant is paused, and how its endings, deferrals and
//! skips are written there.

use std::sync::Arc;
use std::time::Duration;

use weir_core::deliver::{Answer, Deliveries, Ending, Leased, Source};

use super::hold;
use crate::commit;
use crate::embedded::Embedded;
use crate::event::{Event, now_ms};
use crate::queue::{self, Attempt, BeforeRun, Lane, QueueError, Seq, StoreError};
use crate::runtime::CommittedState;

/// A delivery leased from the queue, with its event.
pub struct FjallLeased {
    /// The lease.
    pub leased: queue::Leased,
    /// Its event.
    pub event: Event,
}

impl Leased for FjallLeased {
    fn event(&self) -> &Event {
        &self.event
    }

    fn plugin(&self) -> &str {
        &self.leased.plugin
    }

    fn attempt(&self) -> u32 {
        self.leased.record.attempts
    }

    fn generation(&self) -> u32 {
        self.leased.record.generation
    }

    fn earlier_attempts(&self) -> &[Attempt] {
        let record = &self.leased.record;
        let earlier = (record.attempts as usize).saturating_sub(1);
        &record.history[record.history.len().saturating_sub(earlier)..]
    }
}

/// The queue, as the engine sees it.
pub struct FjallDeliveries {
    /// The shared stages, the queue among them.
    pub embedded: Arc<Embedded>,
}

impl FjallDeliveries {
    /// A queue error as the seam says it; a failed write stops weir.
    fn failed(&self, error: QueueError) -> StoreError {
        self.embedded.storage_failed(&error);
        error.into()
    }
}

impl Deliveries for FjallDeliveries {
    type Leased = FjallLeased;

    // A round holds the queue's write lock from its first check to its write.
    const ROUNDS_AT_ONCE: usize = 1;

    fn state(&self) -> Arc<dyn CommittedState> {
        self.embedded.queue.clone()
    }

    async fn settle_if_committed(
        &self,
        leased: FjallLeased,
    ) -> Result<Option<FjallLeased>, StoreError> {
        match self.embedded.queue.before_run(&leased.leased) {
            BeforeRun::Run => Ok(Some(leased)),
            BeforeRun::LeaseLost => Ok(None),
            BeforeRun::Committed => {
                let FjallLeased { leased, event } = leased;
                commit::skip_committed(&self.embedded, leased, &event)
                    .map_err(|e| self.failed(e))?;
                Ok(None)
            }
        }
    }

    async fn defer(&self, leased: FjallLeased, wait: Duration) -> Result<(), StoreError> {
        let due_ms = now_ms() + wait.as_millis() as u64;
        let mut staging = self.embedded.queue.stage();
        if staging.defer(&leased.leased, due_ms) {
            self.embedded.commit(staging).map_err(|e| self.failed(e))?;
        }
        Ok(())
    }

    async fn finish(&self, endings: Vec<(FjallLeased, Ending)>) -> Vec<Answer<FjallLeased>> {
        let count = endings.len();
        match commit::store_round(&self.embedded, endings) {
            Ok(finished) => finished.into_iter().map(Ok).collect(),
            Err(error) => {
                let error = self.failed(error);
                (0..count).map(|_| Err(error.clone())).collect()
            }
        }
    }
}

impl Source for FjallDeliveries {
    type Ticket = queue::Leased;
    type LeaseRound = queue::LeaseRound;

    fn lease(
        &self,
        plugin: &str,
        lane: &Lane,
        from: Seq,
        lease_ms: u64,
        round: &mut queue::LeaseRound,
    ) -> Result<Option<queue::Leased>, StoreError> {
        let queue = &self.embedded.queue;
        (queue.stage_lease(plugin, lane, from, lease_ms, round)).map_err(|e| self.failed(e))
    }

    fn write_leases(&self, round: queue::LeaseRound) -> Result<(), StoreError> {
        (self.embedded.queue.write_leases(round)).map_err(|e| self.failed(e))
    }

    async fn open(&self, leased: queue::Leased) -> Result<FjallLeased, StoreError> {
        let seq = leased.seq;
        let read = self.embedded.queue.event(seq).map_err(|e| self.failed(e))?;
        let event =
            read.ok_or_else(|| StoreError::Corrupt(format!("delivery {seq} has no event")))?;
        Ok(FjallLeased { leased, event })
    }

    async fn hold_if_paused(&self, leased: FjallLeased) -> Result<Option<FjallLeased>, StoreError> {
        let FjallLeased { leased, event } = leased;
        let held = hold::hold_if_paused(&self.embedded, leased, &event);
        let leased = held.map_err(|e| self.failed(e))?;
        Ok(leased.map(|leased| FjallLeased { leased, event }))
    }

    fn failed(&self, error: &StoreError) {
        self.embedded.store_failed(error);
    }
}
