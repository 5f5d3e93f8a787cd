//! Finishing a delivery: its outcome, state writes, emitted events, idempotency
//! record and new state go to storage in one atomic batch, or not at all.

use std::time::Duration;

use weir_core::deliver::{Ending, Finished};

use crate::dispatch::FjallLeased;
use crate::embedded::Embedded;
use crate::event::{Event, now_ms};
use crate::queue::{Attempt, DeliveryResult, DeliveryState, Leased, QueueError};
use crate::runtime::Effects;

/// Stores how `leased` ended: done with its effects and children (unless the
/// state it read changed under it), scheduled for a retry, or dead.
pub fn store(
    embedded: &Embedded,
    leased: FjallLeased,
    ending: Ending,
) -> Result<Finished<FjallLeased>, QueueError> {
    let FjallLeased { mut leased, event } = leased;
    let released = match ending {
        Ending::Done {
            attempt,
            effects,
            children,
            committed_at_ms,
        } => {
            let done = Done {
                attempt,
                effects,
                children,
                committed_at_ms,
            };
            return complete(embedded, FjallLeased { leased, event }, done);
        }
        Ending::Retry { attempt, delay, .. } => {
            leased.record.history.extend(attempt);
            retry(embedded, &mut leased, &event, delay)?
        }
        Ending::Dead {
            attempt, message, ..
        } => {
            leased.record.history.extend(attempt);
            bury(embedded, &mut leased, &event, message)?
        }
    };
    Ok(if released {
        Finished::Stored
    } else {
        Finished::LeaseLost
    })
}

/// Marks a delivery done whose effects were already committed (its idempotency
/// record exists), without running it again.
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
    embedded.commit(staging)?;
    embedded.pending_changed(&leased.plugin, &event.tenant, -1);
    Ok(())
}

/// A handled attempt's ending.
struct Done {
    attempt: Attempt,
    effects: Effects,
    children: Vec<Event>,
    committed_at_ms: u64,
}

fn complete(
    embedded: &Embedded,
    fjall_leased: FjallLeased,
    done: Done,
) -> Result<Finished<FjallLeased>, QueueError> {
    let queue = &embedded.queue;
    let (leased, event) = (&fjall_leased.leased, &fjall_leased.event);
    // Checking what the handler read and writing its effects must not interleave
    // with another delivery's commit, or two read-modify-writes could both land:
    // the staging holds the queue's write lock.
    let mut staging = queue.stage();
    for (key, seen) in &done.effects.state_reads {
        if queue.state_get(&leased.plugin, &event.tenant, key)? != seen.value {
            return Ok(Finished::Conflict(fjall_leased));
        }
    }
    let FjallLeased { mut leased, event } = fjall_leased;
    leased.record.state = DeliveryState::Done;
    leased.record.result = Some(DeliveryResult {
        outcome: done.attempt.outcome.clone(),
        emitted: done.children.iter().map(|child| child.id.clone()).collect(),
        state_writes: done.effects.state_writes.len() as u32,
        committed_at_ms: done.committed_at_ms,
    });
    leased.record.history.push(done.attempt);
    if !staging.release(&leased, &event)? {
        return Ok(Finished::LeaseLost);
    }

    staging.write_state(&leased.plugin, &event.tenant, done.effects.state_writes);
    let routes = embedded.routes();
    for child in &done.children {
        staging.add_event(child, &routes.targets_for(child))?;
    }
    staging.record_committed(
        &leased.plugin,
        leased.seq,
        leased.record.generation,
        done.committed_at_ms,
    );
    embedded.commit(staging)?;
    embedded.pending_changed(&leased.plugin, &event.tenant, -1);
    Ok(Finished::Stored)
}

/// Schedules the next attempt after `delay`; false if the lease was lost.
fn retry(
    embedded: &Embedded,
    leased: &mut Leased,
    event: &Event,
    delay: Duration,
) -> Result<bool, QueueError> {
    let due = now_ms() + delay.as_millis() as u64;
    leased.record.state = DeliveryState::Scheduled;
    leased.record.next_attempt_at_ms = Some(due);
    let mut staging = embedded.queue.stage();
    if !staging.release(leased, event)? {
        return Ok(false);
    }
    staging.schedule(due, &leased.plugin, leased.seq);
    embedded.commit(staging)?;
    Ok(true)
}

/// Makes the delivery a dead letter; false if the lease was lost.
fn bury(
    embedded: &Embedded,
    leased: &mut Leased,
    event: &Event,
    message: String,
) -> Result<bool, QueueError> {
    leased.record.state = DeliveryState::Dead;
    leased.record.error = Some(message);
    let mut staging = embedded.queue.stage();
    if !staging.release(leased, event)? {
        return Ok(false);
    }
    staging.mark_dead(&leased.plugin, leased.seq);
    embedded.commit(staging)?;
    embedded.pending_changed(&leased.plugin, &event.tenant, -1);
    Ok(true)
}
