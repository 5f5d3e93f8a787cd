//! Finishing deliveries, a round at a time: each one's outcome, state
//! writes, emitted events and new state go to storage in the round's one
//! atomic batch, or not at all. A done delivery's record is its idempotency
//! record: written with its effects, it takes the delivery out of its lane,
//! so no later lease can run it again in its generation.

use std::collections::HashSet;

use weir_core::deliver::{Ending, Finished};

use crate::dispatch::FjallLeased;
use crate::embedded::Embedded;
use crate::event::{Event, now_ms};
use crate::queue::{DeliveryResult, DeliveryState, Leased, QueueError, Staging};
use crate::runtime::Effects;

/// Stores how each of a round of deliveries ended, in one atomic batch:
/// done with its effects and children (unless the state it read changed
/// under it, before the round or earlier in it), kept leased for a retry
/// in place, scheduled for a retry, or dead. An error stores nothing of the
/// round.
pub fn store_round(
    embedded: &Embedded,
    endings: Vec<(FjallLeased, Ending)>,
) -> Result<Vec<Finished<FjallLeased>>, QueueError> {
    let mut round = Round {
        embedded,
        staging: embedded.queue.stage(),
        written: HashSet::new(),
        children: Vec::new(),
        settled: Vec::new(),
    };
    let finished = endings
        .into_iter()
        .map(|(leased, ending)| round.stage(leased, ending))
        .collect::<Result<Vec<_>, _>>()?;
    round.commit()?;
    Ok(finished)
}

/// A round being staged: what its endings wrote so far.
struct Round<'a> {
    embedded: &'a Embedded,
    staging: Staging<'a>,
    /// The state keys (plugin, tenant, key) the round writes: a later
    /// ending in it that read one must run again, as the batch cannot
    /// read its own writes.
    written: HashSet<(String, String, String)>,
    /// What the done deliveries emitted, added once every ending is
    /// released, so that an ordering key a release frees or hands on is
    /// seen by the children that wait on it.
    children: Vec<Event>,
    /// The deliveries done or dead, (plugin, tenant), to count off the
    /// backlog once the round is written.
    settled: Vec<(String, String)>,
}

impl Round<'_> {
    /// Stages one ending.
    fn stage(
        &mut self,
        fjall_leased: FjallLeased,
        ending: Ending,
    ) -> Result<Finished<FjallLeased>, QueueError> {
        let FjallLeased { mut leased, event } = fjall_leased;
        // Before anything else: an attempt that outlived its lease must not
        // run again on a conflict either.
        if !self.staging.holds(&leased) {
            return Ok(Finished::LeaseLost);
        }
        match ending {
            Ending::Done {
                attempt,
                effects,
                children,
                committed_at_ms,
            } => {
                if self.changed_under(&leased.plugin, &event.tenant, &effects)? {
                    return Ok(Finished::Conflict(FjallLeased { leased, event }));
                }
                leased.record.state = DeliveryState::Done;
                leased.record.result = Some(DeliveryResult {
                    outcome: attempt.outcome.clone(),
                    emitted: children.iter().map(|child| child.id.clone()).collect(),
                    state_writes: effects.state_writes.len() as u32,
                    committed_at_ms,
                });
                leased.record.history.push(attempt);
                if !self.staging.release(&leased, &event)? {
                    return Ok(Finished::LeaseLost);
                }
                let (plugin, tenant) = (&leased.plugin, &event.tenant);
                self.written.extend(
                    (effects.state_writes.keys())
                        .map(|key| (plugin.clone(), tenant.clone(), key.clone())),
                );
                self.staging
                    .write_state(plugin, tenant, effects.state_writes);
                self.children.extend(children);
                self.settled.push((plugin.clone(), tenant.clone()));
            }
            Ending::Retry {
                attempt,
                delay,
                in_place,
                ..
            } => {
                leased.record.history.extend(attempt);
                let due = now_ms() + delay.as_millis() as u64;
                if in_place {
                    if !self.staging.renew_lease(&mut leased, due) {
                        return Ok(Finished::LeaseLost);
                    }
                    return Ok(Finished::Again(FjallLeased { leased, event }, delay));
                }
                leased.record.state = DeliveryState::Scheduled;
                leased.record.next_attempt_at_ms = Some(due);
                if !self.staging.release(&leased, &event)? {
                    return Ok(Finished::LeaseLost);
                }
                self.staging.schedule(due, &leased.plugin, leased.seq);
            }
            Ending::Dead {
                attempt, message, ..
            } => {
                leased.record.history.extend(attempt);
                leased.record.state = DeliveryState::Dead;
                leased.record.error = Some(message);
                if !self.staging.release(&leased, &event)? {
                    return Ok(Finished::LeaseLost);
                }
                self.staging.mark_dead(&leased.plugin, leased.seq);
                self.settled.push((leased.plugin, event.tenant));
            }
        }
        Ok(Finished::Stored)
    }

    /// Whether a state key the handler read changed since: written before
    /// the round, or earlier in it.
    fn changed_under(
        &self,
        plugin: &str,
        tenant: &str,
        effects: &Effects,
    ) -> Result<bool, QueueError> {
        let queue = &self.embedded.queue;
        let written_in_round = |key: &String| {
            // A round of one has nothing to look up.
            !self.written.is_empty()
                && (self.written).contains(&(plugin.to_owned(), tenant.to_owned(), key.clone()))
        };
        for (key, seen) in &effects.state_reads {
            if written_in_round(key) || queue.state_get(plugin, tenant, key)? != seen.value {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Adds the children and writes the round, then counts off the
    /// deliveries it settled.
    fn commit(mut self) -> Result<(), QueueError> {
        // Every ending a conflict or a lost lease: nothing to write.
        if self.staging.batch().is_empty() {
            return Ok(());
        }
        let routes = self.embedded.routes();
        for child in &self.children {
            self.staging.add_event(child, &routes.targets_for(child))?;
        }
        self.embedded.commit(self.staging)?;
        for (plugin, tenant) in &self.settled {
            self.embedded.pending_changed(plugin, tenant, -1);
        }
        Ok(())
    }
}

/// Marks a delivery done whose record already holds its result, in its
/// generation, without running it again ([`crate::queue::BeforeRun`]). Its
/// first ending counted it off the backlog, and a path that makes a
/// delivery ready again does not count it back on, so neither does this.
pub fn skip_committed(
    embedded: &Embedded,
    mut leased: Leased,
    event: &Event,
) -> Result<(), QueueError> {
    leased.record.state = DeliveryState::Done;
    let mut staging = embedded.queue.stage();
    if !staging.release(&leased, event)? {
        tracing::warn!("the lease expired before this delivery was marked done");
        return Ok(());
    }
    embedded.commit(staging)
}
