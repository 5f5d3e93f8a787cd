//! Finishing a delivery: its outcome, state writes, emitted events, idempotency
//! record and new state go to storage in one atomic batch, or not at all.

use std::time::Duration;

use crate::config::PluginLimits;
use crate::event::{Event, now_ms};
use crate::pipeline::Pipeline;
use crate::queue::{Attempt, DeliveryResult, DeliveryState, Leased, QueueError, keys};
use crate::runtime::{Effects, Execution, NewEvent, Outcome};
use crate::schedule::{faults_in_a_row, retry_delay};

/// What [`finish`] did.
pub enum Finished {
    /// The attempt's ending is committed.
    Committed,
    /// State the handler read changed under it (a concurrent delivery wrote it);
    /// nothing was written. Run the delivery again.
    Conflict(Box<Leased>),
    /// The lease expired before the commit and the delivery was handed out
    /// again; nothing was written, and the other attempt owns it now.
    LeaseLost,
}

/// Commits what one attempt of `leased` produced.
pub fn finish(
    pipeline: &Pipeline,
    limits: &PluginLimits,
    mut leased: Leased,
    event: &Event,
    execution: Execution,
) -> Result<Finished, QueueError> {
    let attempt = |outcome: &str, error: Option<String>| Attempt {
        started_at_ms: execution.started_at_ms,
        duration_ms: execution.duration.as_millis() as u64,
        outcome: outcome.to_owned(),
        error,
        fuel_consumed: execution.fuel_consumed,
        version: Some(execution.version.to_string()),
    };
    let (reason, message, hint_ms) = match execution.result {
        Ok(Outcome::Ack) => {
            return done(
                pipeline,
                leased,
                event,
                attempt("ack", None),
                execution.effects,
                Vec::new(),
            );
        }
        Ok(Outcome::Emit(events)) => {
            return done(
                pipeline,
                leased,
                event,
                attempt("emit", None),
                execution.effects,
                events,
            );
        }
        Ok(Outcome::Fail(reason)) => {
            leased
                .record
                .history
                .push(attempt("fail", Some(reason.clone())));
            pipeline.metrics.delivery_failed(&leased.plugin, "fail");
            return bury(pipeline, leased, event, "fail", reason);
        }
        Ok(Outcome::RetryLater(ms)) => (
            "retry_later",
            format!("handler asked to retry after {ms} ms"),
            Some(u64::from(ms)),
        ),
        Err(failure) => (failure.kind.as_str(), failure.message, None),
    };
    leased
        .record
        .history
        .push(attempt(reason, Some(message.clone())));
    // Only this round's attempts: a revived dead letter starts afresh.
    let history = &leased.record.history;
    let this_round = &history[history
        .len()
        .saturating_sub(leased.record.attempts as usize)..];
    let in_a_row = faults_in_a_row(this_round);
    if in_a_row >= limits.poison_after {
        pipeline.metrics.delivery_failed(&leased.plugin, reason);
        let message = format!(
            "set aside after {in_a_row} traps or limit hits in a row (poison_after); last: {reason}: {message}"
        );
        return bury(pipeline, leased, event, reason, message);
    }
    retry_or_bury(pipeline, limits, leased, event, reason, message, hint_ms)
}

/// Schedules another attempt after a backoff (never sooner than `hint_ms`), or
/// buries the delivery if that was its last attempt.
pub fn retry_or_bury(
    pipeline: &Pipeline,
    limits: &PluginLimits,
    leased: Leased,
    event: &Event,
    reason: &str,
    message: String,
    hint_ms: Option<u64>,
) -> Result<Finished, QueueError> {
    pipeline.metrics.delivery_failed(&leased.plugin, reason);
    if leased.record.attempts < limits.max_attempts {
        retry(pipeline, limits, leased, event, hint_ms)
    } else {
        let message = format!(
            "gave up after {} attempts; last: {reason}: {message}",
            leased.record.attempts
        );
        bury(pipeline, leased, event, reason, message)
    }
}

/// A handled delivery: commit it with its effects, unless what it emitted is invalid.
fn done(
    pipeline: &Pipeline,
    mut leased: Leased,
    event: &Event,
    attempt: Attempt,
    effects: Effects,
    emitted: Vec<NewEvent>,
) -> Result<Finished, QueueError> {
    match build_emitted(pipeline, event, &leased.plugin, emitted) {
        Ok(children) => complete(pipeline, leased, attempt, event, effects, children),
        Err(message) => {
            let reason = "invalid_output";
            leased.record.history.push(Attempt {
                outcome: reason.into(),
                error: Some(message.clone()),
                ..attempt
            });
            pipeline.metrics.delivery_failed(&leased.plugin, reason);
            bury(pipeline, leased, event, reason, message)
        }
    }
}

/// Marks a delivery done whose effects were already committed (its idempotency
/// record exists), without running it again.
pub fn skip_committed(
    pipeline: &Pipeline,
    mut leased: Leased,
    event: &Event,
) -> Result<Finished, QueueError> {
    leased.record.state = DeliveryState::Done;
    let mut staging = pipeline.queue.stage();
    if !staging.release(&leased, event)? {
        return Ok(Finished::LeaseLost);
    }
    pipeline.commit(staging)?;
    pipeline.pending_changed(&leased.plugin, &event.tenant, -1);
    Ok(Finished::Committed)
}

fn complete(
    pipeline: &Pipeline,
    mut leased: Leased,
    attempt: Attempt,
    event: &Event,
    effects: Effects,
    emitted: Vec<Event>,
) -> Result<Finished, QueueError> {
    let queue = &pipeline.queue;
    // Checking what the handler read and writing its effects must not interleave
    // with another delivery's commit, or two read-modify-writes could both land:
    // the staging holds the queue's write lock.
    let mut staging = queue.stage();
    for (key, seen) in &effects.state_reads {
        if queue.state_get(&leased.plugin, &event.tenant, key)? != *seen {
            return Ok(Finished::Conflict(Box::new(leased)));
        }
    }

    let committed_at_ms = now_ms();
    leased.record.state = DeliveryState::Done;
    leased.record.result = Some(DeliveryResult {
        outcome: attempt.outcome.clone(),
        emitted: emitted.iter().map(|child| child.id.clone()).collect(),
        state_writes: effects.state_writes.len() as u32,
        committed_at_ms,
    });
    leased.record.history.push(attempt);
    if !staging.release(&leased, event)? {
        return Ok(Finished::LeaseLost);
    }

    let state_prefix = keys::state_prefix(&leased.plugin, &event.tenant);
    for (key, value) in effects.state_writes {
        let mut full = state_prefix.clone();
        full.extend_from_slice(key.as_bytes());
        match value {
            Some(value) => staging.batch().insert(&queue.state, full, value),
            None => staging.batch().remove(&queue.state, full),
        }
    }
    for child in &emitted {
        staging.add_event(child, &pipeline.routes().targets_for(child))?;
    }
    staging.batch().insert(
        &queue.committed,
        keys::committed(&leased.plugin, leased.seq, leased.record.generation),
        committed_at_ms.to_be_bytes(),
    );
    pipeline.commit(staging)?;

    let latency = Duration::from_millis(committed_at_ms.saturating_sub(event.ingested_at_ms));
    pipeline.metrics.delivery_processed(&leased.plugin, latency);
    pipeline.pending_changed(&leased.plugin, &event.tenant, -1);
    Ok(Finished::Committed)
}

fn retry(
    pipeline: &Pipeline,
    limits: &PluginLimits,
    mut leased: Leased,
    event: &Event,
    hint_ms: Option<u64>,
) -> Result<Finished, QueueError> {
    let queue = &pipeline.queue;
    let due = now_ms() + retry_delay(limits, leased.record.attempts, hint_ms).as_millis() as u64;
    leased.record.state = DeliveryState::Scheduled;
    leased.record.next_attempt_at_ms = Some(due);
    let mut staging = queue.stage();
    if !staging.release(&leased, event)? {
        return Ok(Finished::LeaseLost);
    }
    staging.schedule(due, &leased.plugin, leased.seq);
    pipeline.commit(staging)?;
    pipeline.metrics.delivery_retried(&leased.plugin);
    Ok(Finished::Committed)
}

fn bury(
    pipeline: &Pipeline,
    mut leased: Leased,
    event: &Event,
    reason: &str,
    message: String,
) -> Result<Finished, QueueError> {
    let queue = &pipeline.queue;
    leased.record.state = DeliveryState::Dead;
    leased.record.error = Some(message.clone());
    let mut staging = queue.stage();
    if !staging.release(&leased, event)? {
        return Ok(Finished::LeaseLost);
    }
    staging.batch().insert(
        &queue.dead,
        keys::plugin_seq(&leased.plugin, leased.seq),
        [],
    );
    pipeline.commit(staging)?;
    tracing::warn!(plugin = %leased.plugin, seq = leased.seq, reason, %message, "delivery is dead");
    pipeline.metrics.delivery_dead(&leased.plugin);
    pipeline.pending_changed(&leased.plugin, &event.tenant, -1);
    Ok(Finished::Committed)
}

/// Turns what a handler emitted into events: same tenant and priority as the
/// parent unless it says otherwise, one hop further, linked by causation and
/// correlation ids.
pub(crate) fn build_emitted(
    pipeline: &Pipeline,
    parent: &Event,
    plugin: &str,
    emitted: Vec<NewEvent>,
) -> Result<Vec<Event>, String> {
    if emitted.is_empty() {
        return Ok(Vec::new());
    }
    let hops = parent.hops + 1;
    let max_hops = pipeline.config.dispatch.max_hops;
    if hops > max_hops {
        return Err(format!(
            "hop limit {max_hops} exceeded: this event is {} emits deep (an emit loop?)",
            parent.hops
        ));
    }
    let correlation = parent
        .extensions
        .get("correlationid")
        .map_or_else(|| parent.id.clone(), ToString::to_string);
    emitted
        .into_iter()
        .map(|new| {
            let source = new
                .source
                .unwrap_or_else(|| format!("weir://plugin/{plugin}"));
            let id = uuid::Uuid::now_v7().to_string();
            let mut child = Event::new(id, source, new.type_, parent.tenant.clone());
            child.subject = new.subject;
            child.datacontenttype = new.datacontenttype;
            child.data = new.data;
            child.priority = parent.priority;
            child.hops = hops;
            child.ingested_at_ms = now_ms();
            for (name, value) in new.extensions {
                child.set_extension(&name, value.into())?;
            }
            child
                .extensions
                .insert("causationid".to_owned(), parent.id.as_str().into());
            child
                .extensions
                .insert("correlationid".to_owned(), correlation.as_str().into());
            crate::telemetry::trace_context::hand_down(parent, &mut child);
            Ok(child)
        })
        .collect()
}
