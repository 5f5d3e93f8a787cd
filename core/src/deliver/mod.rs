//! The delivery engine: what happens to one leased delivery, whichever store
//! leased it. It settles a delivery whose effects an earlier attempt
//! committed, passes it through its circuit breaker, runs the handler (again
//! at once while the state it read changes under it), feeds the adaptive
//! limit and the breaker, decides how the attempt ends (`ending.rs`) and
//! hands that to the store, which commits it atomically with the delivery's
//! effects and children. The policy lives here once; the store does the I/O.

mod children;
mod ending;
#[cfg(test)]
mod ending_tests;
mod engine;
mod finisher;
mod gate;
mod in_place;
mod serve;
mod slot;

use std::sync::Arc;
use std::time::Duration;

pub use children::children_of;
pub use ending::{Ending, Failed, Tally, retry_or_dead};
pub use engine::{Engine, RunsOn, deliver};
pub use finisher::{Answer, Finisher};
pub use gate::{Closed, Gate};
pub use in_place::{Again, Room, Waiting};
pub use serve::{Source, serve_plugin};
pub use slot::Slot;

use crate::event::Event;
use crate::runtime::CommittedState;
use crate::store::{Attempt, StoreError};

/// A delivery a store leased to this node.
pub trait Leased: Send + Sync {
    /// Its event.
    fn event(&self) -> &Event;
    /// The plugin it goes to.
    fn plugin(&self) -> &str;
    /// This attempt's number, 1 for the first: the store counts an attempt
    /// before it runs.
    fn attempt(&self) -> u32;
    /// Which re-run by a replay it is (0 for the first run): each has its
    /// own idempotency record.
    fn generation(&self) -> u32;
    /// This round's attempts before this one, oldest first, where the
    /// store keeps them (none where it does not): they tell a poison event.
    fn earlier_attempts(&self) -> &[Attempt];
}

/// What a store made of an ending.
pub enum Finished<L> {
    /// It is stored.
    Stored,
    /// State the handler read changed under it (another delivery wrote
    /// it); nothing was written. Run it again.
    Conflict(L),
    /// The store kept the delivery, with its next attempt counted, to run
    /// it again after the wait, still leased to this node
    /// ([`Deliveries::wait_in_place`]): a retry that waits in place, to
    /// keep its key's order or to spare the store its writes
    /// ([`in_place`]).
    Again(L, Duration),
    /// The lease ran out before this and another attempt owns the delivery
    /// now; nothing of this one was written.
    LeaseLost,
}

/// What the engine asks of the store that leased a delivery.
pub trait Deliveries: Send + Sync {
    /// A delivery as this store leases it.
    type Leased: Leased;

    /// How many rounds of endings ([`Deliveries::finish`]) may be written
    /// at once: one where rounds wait on one writer anyway (the endings
    /// that come meanwhile make the next round bigger), more where each
    /// ending is a round trip of its own.
    const ROUNDS_AT_ONCE: usize;

    /// Where a handler reads committed plugin state.
    fn state(&self) -> Arc<dyn CommittedState>;

    /// Settles `leased` without running it (`None`) if an earlier attempt
    /// committed its effects, or its lease ended while it waited; gives it
    /// back to run otherwise.
    fn settle_if_committed(
        &self,
        leased: Self::Leased,
    ) -> impl Future<Output = Result<Option<Self::Leased>, StoreError>> + Send;

    /// Sets `leased` aside for `wait` (its breaker is open), if the store
    /// still leases it to this node, without counting it as an attempt.
    fn defer(
        &self,
        leased: Self::Leased,
        wait: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores how each of a round of deliveries ended, each with its
    /// effects and children when it is done; answers in the round's order.
    /// A delivery whose state reads another in the round changed is a
    /// [`Finished::Conflict`], as it is against one written before.
    fn finish(
        &self,
        endings: Vec<(Self::Leased, Ending)>,
    ) -> impl Future<Output = Vec<Answer<Self::Leased>>> + Send;

    /// Keeps `leased` this node's for `wait`, before it runs again in
    /// place ([`Finished::Again`]). A store that never answers `Again`
    /// keeps the default.
    fn wait_in_place(
        &self,
        leased: &Self::Leased,
        wait: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        let _ = leased;
        async move {
            tokio::time::sleep(wait).await;
            Ok(())
        }
    }
}
