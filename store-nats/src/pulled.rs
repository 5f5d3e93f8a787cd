//! The NATS store's side of the delivery engine (`weir_core::deliver`): a
//! delivery pulled from JetStream, and how its endings are kept there. A
//! commit record per delivery keeps its effects from applying twice; a
//! retry goes back to JetStream with a delay (`nak`), except an ordered
//! delivery's, which waits here, since its key's partition hands out
//! nothing else until it is acked.
//!
//! JetStream counts every hand-out of a message as a delivery. What it does
//! not keep is kept in the records bucket when something goes wrong
//! (`faults.rs`): the row of faults a delivery's latest attempts ended
//! with, so poison events are set aside as on fjall, and how often a
//! circuit breaker deferred it (handed it back until its cool-down ends),
//! which is not counted as an attempt.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use futures_util::future::join_all;
use weir_core::deliver::{Answer, Deliveries, Ending, Finished, Leased};

use super::NatsError;
use super::commit::{Committed, GaveUp, Record};
use super::faults::Kept;
use super::names::DeliveryId;
use super::worker::Puller;
use weir_core::schedule::LeasedAt;
use weir_core::store::{Attempt, Lane, Seq, StoreError};
use weir_event::{Event, now_ms};
use weir_runtime::CommittedState;

/// How often a commit JetStream refused (a leader election, a full batch
/// queue) is tried again in place, and the pause before each: about ten
/// seconds in all. Each hand-out of a delivery counts as an attempt, so a
/// commit handed back at once would spend the delivery's attempts on the
/// cluster's failover, and dead-letter it as lost if that outlasts them.
const COMMIT_TRIES: u32 = 20;
const COMMIT_PAUSE: Duration = Duration::from_millis(500);

/// How long a delivery whose commit was refused every time waits before it
/// is handed out again: far shorter than the ack wait it would wait otherwise.
const REFUSED_COMMIT_PAUSE: Duration = Duration::from_secs(1);

/// One pulled delivery.
pub(super) struct Pulled {
    pub(super) message: Message,
    pub(super) event: Event,
    pub(super) plugin: Arc<str>,
    /// The lane it waits in on this node.
    pub(super) lane: Lane,
    pub(super) generation: u32,
    /// Its position in the deliveries stream.
    pub(super) sequence: u64,
    /// This attempt's number (1 for the first): JetStream's count of
    /// hand-outs, less those a breaker deferred, plus the retries run in place.
    pub(super) attempt: u32,
    /// Whether it holds its ordering key's partition.
    pub(super) ordered: bool,
    /// What is kept of its earlier hand-outs: the faults its latest
    /// attempts ended with, in a row, and its deferrals.
    pub(super) kept: Kept,
}

impl Pulled {
    fn id(&self) -> DeliveryId<'_> {
        DeliveryId {
            plugin: &self.plugin,
            event: &self.event,
            generation: self.generation,
        }
    }

    async fn ack(&self) -> Result<(), NatsError> {
        self.message
            .ack()
            .await
            .map_err(|e| NatsError::request("ack", e))
    }

    async fn nak(&self, delay: Duration) -> Result<(), NatsError> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| NatsError::request("nak", e))
    }
}

impl LeasedAt for Pulled {
    fn seq(&self) -> Seq {
        self.sequence
    }

    fn lane(&self) -> &Lane {
        &self.lane
    }
}

impl Leased for Pulled {
    fn event(&self) -> &Event {
        &self.event
    }

    fn plugin(&self) -> &str {
        &self.plugin
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    fn generation(&self) -> u32 {
        self.generation
    }

    fn earlier_attempts(&self) -> &[Attempt] {
        &self.kept.faults
    }
}

impl Puller {
    /// Publishes what the committed attempt emitted (again, if a node that
    /// committed stopped before it could: the message ids keep one copy),
    /// then takes the delivery off the stream. An ack that is lost only
    /// hands it out again, and its commit record keeps that from counting twice.
    async fn finished(&self, pulled: &Pulled, children: &[Event]) -> Result<(), NatsError> {
        self.nats
            .submit(&self.shared.routes.current(), children)
            .await
            .map_err(|e| NatsError::request("publish what a delivery emitted", e))?;
        pulled.ack().await
    }

    /// Publishes `pulled`'s dead letter (once, whoever publishes it: the
    /// letter's message id is the delivery's), then takes it off the stream.
    async fn dead_letter(
        &self,
        pulled: &Pulled,
        attempts: u32,
        gave_up: &GaveUp,
    ) -> Result<(), NatsError> {
        let GaveUp { reason, message } = gave_up;
        self.nats
            .dead_letter(&pulled.id(), pulled.sequence, attempts, reason, message)
            .await?;
        self.forget_kept(pulled).await;
        pulled.ack().await
    }

    /// Waits `delay` before an ordered delivery's next attempt, keeping it
    /// this node's meanwhile.
    async fn hold(&self, pulled: &Pulled, delay: Duration) -> Result<(), NatsError> {
        let until = tokio::time::Instant::now() + delay;
        let extend = self.ack_wait / 2;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep_until(until.min(tokio::time::Instant::now() + extend)).await;
            pulled
                .message
                .ack_with(AckKind::Progress)
                .await
                .map_err(|e| NatsError::request("extend the ack wait", e))?;
        }
        Ok(())
    }

    /// Keeps `kept` for `pulled`; what is kept then. One that cannot be
    /// kept costs only the poison count and a deferral's attempt: logged.
    async fn keep(&self, pulled: &Pulled, kept: Kept) -> Kept {
        match self.nats.keep(&pulled.id(), &pulled.kept, &kept).await {
            Ok(()) => kept,
            Err(error) => {
                tracing::warn!(%error, "cannot keep this delivery's faults and deferrals");
                pulled.kept.clone()
            }
        }
    }

    /// Forgets what is kept of `pulled`, if anything, once it is done or dead.
    async fn forget_kept(&self, pulled: &Pulled) {
        if pulled.kept.is_empty() {
            return;
        }
        if let Err(error) = self.nats.forget_kept(&pulled.id()).await {
            tracing::warn!(%error, "cannot forget a finished delivery's faults and deferrals");
        }
    }

    /// Ends `pulled` as `record`, found under its commit key, says: a
    /// commit's children are published and the delivery acked; a give-up's
    /// dead letter is published and the delivery taken off the stream. Both
    /// again, if the node that wrote the record stopped before it could:
    /// their message ids keep one copy.
    async fn settle_as(&self, pulled: &Pulled, record: &Record) -> Result<(), NatsError> {
        match &record.gave_up {
            Some(gave_up) => self.dead_letter(pulled, record.attempt, gave_up).await,
            None => self.finished(pulled, &record.children()?).await,
        }
    }

    /// Writes `pulled`'s ending with `end` (its commit, or its give-up's
    /// mark), trying again in place (its ack wait extended) while JetStream
    /// refuses the batch, up to [`COMMIT_TRIES`] times.
    async fn end_in_place<F: Future<Output = Result<Committed, NatsError>>>(
        &self,
        pulled: &Pulled,
        end: impl Fn() -> F,
    ) -> Result<Committed, NatsError> {
        let mut tries = 1;
        loop {
            let error = match end().await {
                Ok(committed) => return Ok(committed),
                Err(error) if tries >= COMMIT_TRIES => return Err(error),
                Err(error) => error,
            };
            tracing::warn!(%error, tries, "JetStream refused the commit; trying again");
            tries += 1;
            tokio::time::sleep(COMMIT_PAUSE).await;
            // Failing while the cluster fails over: the ack wait may run out,
            // and another attempt's commit then counts once by its record.
            let _ = pulled.message.ack_with(AckKind::Progress).await;
        }
    }

    async fn commit_done(
        &self,
        pulled: Pulled,
        attempt: Attempt,
        effects: weir_runtime::Effects,
        children: Vec<Event>,
        committed_at_ms: u64,
    ) -> Result<Finished<Pulled>, NatsError> {
        let record = Record {
            outcome: attempt.outcome,
            node: self.nats.node().to_owned(),
            attempt: pulled.attempt,
            committed_at_ms,
            state_writes: effects.state_writes.len(),
            children: Record::encode_children(&children),
            gave_up: None,
        };
        let id = pulled.id();
        let commit = || self.nats.commit(&id, &effects, &record);
        let committed = match self.end_in_place(&pulled, commit).await {
            Ok(committed) => committed,
            Err(error) => {
                // Nothing of the batch was stored: hand the delivery back
                // now, not after its ack wait, which held up its partition.
                if let Err(nak) = pulled.nak(REFUSED_COMMIT_PAUSE).await {
                    tracing::warn!(error = %nak, "cannot hand back a delivery whose commit was refused; JetStream does after its ack wait");
                }
                return Err(error);
            }
        };
        match committed {
            Committed::Now => {
                self.finished(&pulled, &children).await?;
                self.forget_kept(&pulled).await;
                Ok(Finished::Stored)
            }
            Committed::Before(record) => {
                if record.gave_up.is_some() {
                    tracing::warn!(node = %record.node, "this delivery was given up while this attempt ran past its ack wait; its effects are not applied");
                } else {
                    tracing::info!(node = %record.node, "another attempt committed this delivery first; its result stands");
                }
                self.settle_as(&pulled, &record).await?;
                Ok(Finished::LeaseLost)
            }
            Committed::Conflict => Ok(Finished::Conflict(pulled)),
        }
    }
}

impl Deliveries for Puller {
    type Leased = Pulled;

    // Each ending is an atomic batch and acks of its own, round trips to
    // the cluster: a round must not wait for the slowest of the one before.
    const ROUNDS_AT_ONCE: usize = 64;

    fn state(&self) -> Arc<dyn CommittedState> {
        self.nats.clone()
    }

    async fn settle_if_committed(&self, mut pulled: Pulled) -> Result<Option<Pulled>, StoreError> {
        // Only an earlier attempt can have committed, or failed: the first
        // skips the lookups.
        if pulled.attempt > 1 {
            let id = pulled.id();
            // Both read at once: a redelivery is rarely committed already.
            let (committed, kept) =
                tokio::try_join!(self.nats.committed(&id), self.nats.kept(&id))?;
            if let Some(record) = committed {
                tracing::info!(node = %record.node, outcome = %record.outcome, "an earlier attempt ended this delivery");
                self.settle_as(&pulled, &record).await?;
                return Ok(None);
            }
            pulled.attempt = pulled.attempt.saturating_sub(kept.deferred).max(1);
            pulled.kept = kept;
        }
        Ok(Some(pulled))
    }

    async fn defer(&self, pulled: Pulled, wait: Duration) -> Result<(), StoreError> {
        self.keep(&pulled, pulled.kept.deferred_once_more()).await;
        Ok(pulled.nak(wait).await?)
    }

    async fn finish(&self, endings: Vec<(Pulled, Ending)>) -> Vec<Answer<Pulled>> {
        // Each ending is its own atomic batch on JetStream, so a round's
        // endings go out side by side.
        let finishing = endings
            .into_iter()
            .map(|(pulled, ending)| self.finish_one(pulled, ending));
        join_all(finishing).await
    }

    async fn wait_in_place(&self, pulled: &Pulled, wait: Duration) -> Result<(), StoreError> {
        Ok(self.hold(pulled, wait).await?)
    }
}

impl Puller {
    /// Stores how one delivery ended.
    async fn finish_one(&self, mut pulled: Pulled, ending: Ending) -> Answer<Pulled> {
        match ending {
            Ending::Done {
                attempt,
                effects,
                children,
                committed_at_ms,
            } => Ok(self
                .commit_done(pulled, attempt, effects, children, committed_at_ms)
                .await?),
            Ending::Retry { delay, attempt, .. } => {
                if let Some(attempt) = attempt {
                    let kept = pulled.kept.after(&attempt);
                    pulled.kept = self.keep(&pulled, kept).await;
                }
                if pulled.ordered {
                    pulled.attempt += 1;
                    return Ok(Finished::Again(pulled, delay));
                }
                pulled.nak(delay).await?;
                Ok(Finished::Stored)
            }
            Ending::Dead {
                reason, message, ..
            } => {
                let gave_up = GaveUp {
                    reason: reason.to_owned(),
                    message,
                };
                let node = self.nats.node();
                let mark = Record::gave_up(node, pulled.attempt, now_ms(), gave_up.clone());
                // Given up once the mark is stored: an attempt still running
                // elsewhere can then no longer commit.
                let id = pulled.id();
                match self
                    .end_in_place(&pulled, || self.nats.bury(&id, &mark))
                    .await?
                {
                    Committed::Before(record) if record.gave_up.is_none() => {
                        tracing::info!(node = %record.node, "another attempt committed this delivery before it was given up; its result stands");
                        self.settle_as(&pulled, &record).await?;
                        Ok(Finished::LeaseLost)
                    }
                    Committed::Before(record) => {
                        self.settle_as(&pulled, &record).await?;
                        Ok(Finished::Stored)
                    }
                    // Stored; or the key was emptied meanwhile (the mark of
                    // an earlier give-up expired, or was purged).
                    Committed::Now | Committed::Conflict => {
                        self.dead_letter(&pulled, pulled.attempt, &gave_up).await?;
                        Ok(Finished::Stored)
                    }
                }
            }
        }
    }
}
