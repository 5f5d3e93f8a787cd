//! How an attempt ends, decided once for every store: done with its effects
//! and children; retried after a backoff; or dead (the handler's `fail`,
//! invalid output, a poison event, the last attempt spent).

use std::time::Duration;

use crate::config::PluginLimits;
use crate::event::{Event, now_ms};
use crate::metrics::Metrics;
use crate::runtime::{Effects, Execution, Outcome};
use crate::schedule::{faults_in_a_row, is_fault, retry_delay};
use crate::store::Attempt;

use super::{Leased, children_of};

/// What the store is asked to make of a delivery.
pub enum Ending {
    /// Handled: its effects and the events it emitted are committed with it.
    Done {
        /// The attempt, for the delivery's history.
        attempt: Attempt,
        /// Its state writes, and what it read (checked for change at commit).
        effects: Effects,
        /// The events it emitted.
        children: Vec<Event>,
        /// When it is committed (ms since the Unix epoch).
        committed_at_ms: u64,
    },
    /// To run again after `delay`.
    Retry {
        /// The attempt, if one ran.
        attempt: Option<Attempt>,
        /// Why (`retry_later`, a failure kind, `state_conflict`, ...).
        reason: &'static str,
        /// The backoff.
        delay: Duration,
        /// The engine waits in place ([`super::in_place`]): the store may
        /// keep the delivery leased to this node and answer
        /// [`super::Finished::Again`] instead of scheduling it.
        in_place: bool,
    },
    /// Given up on: a dead letter.
    Dead {
        /// The attempt, if one ran.
        attempt: Option<Attempt>,
        /// Why, in a word (`fail`, `invalid_output`, a failure kind, ...).
        reason: &'static str,
        /// Why, for the operator.
        message: String,
    },
}

impl Ending {
    /// How `execution`, an attempt of `leased` under `limits`, ends.
    pub fn of(
        execution: Execution,
        leased: &impl Leased,
        limits: &PluginLimits,
        max_hops: u32,
    ) -> Ending {
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
                return Ending::done(attempt("ack", None), execution.effects, Vec::new());
            }
            Ok(Outcome::Emit(emitted)) => {
                let plugin = leased.plugin();
                return match children_of(
                    leased.event(),
                    plugin,
                    leased.generation(),
                    emitted,
                    max_hops,
                ) {
                    Ok(children) => {
                        Ending::done(attempt("emit", None), execution.effects, children)
                    }
                    Err(message) => Ending::Dead {
                        attempt: Some(attempt("invalid_output", Some(message.clone()))),
                        reason: "invalid_output",
                        message,
                    },
                };
            }
            Ok(Outcome::Fail(message)) => {
                return Ending::Dead {
                    attempt: Some(attempt("fail", Some(message.clone()))),
                    reason: "fail",
                    message,
                };
            }
            Ok(Outcome::RetryLater(ms)) => (
                "retry_later",
                format!("handler asked to retry after {ms} ms"),
                Some(u64::from(ms)),
            ),
            Err(failure) => (failure.kind.as_str(), failure.message, None),
        };
        let attempt = attempt(reason, Some(message.clone()));
        // This one and the faults right before it, in this round only: a
        // revived dead letter starts afresh.
        let in_a_row = if is_fault(reason) {
            faults_in_a_row(leased.earlier_attempts()) + 1
        } else {
            0
        };
        if in_a_row >= limits.poison_after {
            let message = format!(
                "set aside after {in_a_row} traps or limit hits in a row (poison_after); last: {reason}: {message}"
            );
            return Ending::Dead {
                attempt: Some(attempt),
                reason,
                message,
            };
        }
        retry_or_dead(
            limits,
            leased.attempt(),
            Failed {
                reason,
                message,
                hint_ms,
                attempt: Some(attempt),
            },
        )
    }

    fn done(attempt: Attempt, effects: Effects, children: Vec<Event>) -> Ending {
        Ending::Done {
            attempt,
            effects,
            children,
            committed_at_ms: now_ms(),
        }
    }

    /// What to count once the store has the ending.
    pub fn tally(&self) -> Tally {
        match self {
            Ending::Done {
                committed_at_ms, ..
            } => Tally::Processed(*committed_at_ms),
            Ending::Retry { reason, .. } => Tally::Retried(reason),
            Ending::Dead {
                reason, message, ..
            } => Tally::Dead(reason, message.clone()),
        }
    }
}

/// An attempt that failed, or a delivery that could not run.
pub struct Failed {
    /// Why, in a word.
    pub reason: &'static str,
    /// Why, for the operator.
    pub message: String,
    /// The handler's wish: not sooner than this (ms).
    pub hint_ms: Option<u64>,
    /// The attempt, if one ran.
    pub attempt: Option<Attempt>,
}

/// Another attempt after the hint, or a backoff without one (`retry_delay`), or a dead
/// letter if `attempts` (this one included) spent the last.
pub fn retry_or_dead(limits: &PluginLimits, attempts: u32, failed: Failed) -> Ending {
    let Failed {
        reason,
        message,
        hint_ms,
        attempt,
    } = failed;
    if attempts < limits.max_attempts {
        return Ending::Retry {
            attempt,
            reason,
            delay: retry_delay(limits, attempts, hint_ms),
            in_place: false,
        };
    }
    Ending::Dead {
        attempt,
        reason,
        message: format!("gave up after {attempts} attempts; last: {reason}: {message}"),
    }
}

/// What an ending adds to the metrics and the log.
pub enum Tally {
    /// Processed; committed at this time (ms since the Unix epoch).
    Processed(u64),
    /// Failed, to run again.
    Retried(&'static str),
    /// Failed for good: a dead letter, with why.
    Dead(&'static str, String),
}

impl Tally {
    /// Counts a stored ending of a delivery to `plugin` of an event
    /// ingested at `ingested_at_ms`.
    pub fn count(self, metrics: &Metrics, plugin: &str, ingested_at_ms: u64) {
        match self {
            Tally::Processed(committed_at_ms) => {
                let latency = committed_at_ms.saturating_sub(ingested_at_ms);
                metrics.delivery_processed(plugin, Duration::from_millis(latency));
            }
            Tally::Retried(reason) => {
                metrics.delivery_failed(plugin, reason);
                metrics.delivery_retried(plugin);
            }
            Tally::Dead(reason, message) => {
                metrics.delivery_failed(plugin, reason);
                metrics.delivery_dead(plugin);
                tracing::warn!(reason, %message, "delivery is dead");
            }
        }
    }
}
