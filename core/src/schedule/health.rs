//! What one attempt says about the health of a plugin and its downstream, as
//! the circuit breakers count it.
//!
//! A handler's `fail` is its verdict on one event ("this booking is
//! malformed"): the delivery is dead-lettered and nothing is said about the
//! next event, so it does not count. Traps, deadline and fuel exhaustion,
//! limit hits and failed outbound calls are faults: the plugin or what it
//! calls is unwell. `retry-later` is a downstream asking weir to slow down:
//! it counts too, but against a far higher rate, since a throttled
//! downstream still lets work through.

use crate::runtime::{Execution, FailureKind, Outcome};
use crate::store::Attempt;

/// The reason a fault carries when the handler's outbound HTTP failed.
pub const OUTBOUND: &str = "outbound";
/// The reason a breaker opened by `retry-later` carries.
pub const RETRY_LATER: &str = "retry_later";

/// Every reason a breaker can open for: the fault kinds, a failed outbound
/// call and `retry-later` (a bounded set, for the trips metric).
pub fn reasons() -> impl Iterator<Item = &'static str> {
    FailureKind::ALL
        .iter()
        .filter(|kind| kind.is_plugin_fault())
        .map(|kind| kind.as_str())
        .chain([OUTBOUND, RETRY_LATER])
}

/// What an attempt tells a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Handled (ack or emit).
    Healthy,
    /// The handler's verdict on this event alone (`fail`): not counted.
    Verdict,
    /// The store, not the plugin, failed the attempt (`state_unavailable`):
    /// not counted.
    StoreFailed,
    /// The handler asked to be called again later.
    Throttled,
    /// A sign of ill health, with its reason (`trap`, `deadline`, `outbound`, ...).
    Fault(&'static str),
}

impl Signal {
    /// The signal of `execution`. A failed outbound call turns an unsuccessful
    /// outcome into a fault whatever the handler answered: it is the
    /// downstream, not the event, that failed.
    pub fn of(execution: &Execution) -> Signal {
        let outbound_failed = execution.outbound_failures > 0;
        match &execution.result {
            Ok(Outcome::Ack | Outcome::Emit(_)) => Signal::Healthy,
            Err(failure) if !failure.kind.is_plugin_fault() => Signal::StoreFailed,
            Err(failure) => Signal::Fault(failure.kind.as_str()),
            Ok(_) if outbound_failed => Signal::Fault(OUTBOUND),
            Ok(Outcome::RetryLater(_)) => Signal::Throttled,
            Ok(Outcome::Fail(_)) => Signal::Verdict,
        }
    }
}

/// How many of the last attempts in `history` in a row were stopped by a
/// trap or a limit: the count that sets a poison event aside.
pub fn faults_in_a_row(history: &[Attempt]) -> u32 {
    history
        .iter()
        .rev()
        .take_while(|attempt| is_fault(&attempt.outcome))
        .count() as u32
}

/// Whether an attempt that ended with `outcome` was stopped by a trap or a limit.
pub fn is_fault(outcome: &str) -> bool {
    FailureKind::ALL
        .iter()
        .any(|kind| kind.is_plugin_fault() && kind.as_str() == outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Failure;

    fn attempt(outcome: &str) -> Attempt {
        Attempt {
            started_at_ms: 0,
            duration_ms: 0,
            outcome: outcome.to_owned(),
            error: None,
            fuel_consumed: 0,
            version: None,
        }
    }

    fn execution(result: Result<Outcome, Failure>, outbound_failures: u32) -> Execution {
        Execution {
            result,
            effects: Default::default(),
            fuel_consumed: 0,
            started_at_ms: 0,
            duration: std::time::Duration::ZERO,
            version: "v".into(),
            outbound_failures,
        }
    }

    #[test]
    fn a_verdict_is_not_a_health_signal_but_a_failed_downstream_is() {
        let signal = |result, outbound| Signal::of(&execution(result, outbound));
        assert_eq!(signal(Ok(Outcome::Ack), 0), Signal::Healthy);
        assert_eq!(signal(Ok(Outcome::Ack), 1), Signal::Healthy, "it coped");
        assert_eq!(signal(Ok(Outcome::Fail("bad".into())), 0), Signal::Verdict);
        assert_eq!(signal(Ok(Outcome::RetryLater(5)), 0), Signal::Throttled);
        assert_eq!(
            signal(Ok(Outcome::Fail("502".into())), 1),
            Signal::Fault(OUTBOUND)
        );
        assert_eq!(
            signal(Ok(Outcome::RetryLater(5)), 2),
            Signal::Fault(OUTBOUND)
        );
        let trap = Failure {
            kind: FailureKind::OutOfFuel,
            message: String::new(),
        };
        assert_eq!(signal(Err(trap), 0), Signal::Fault("out_of_fuel"));
    }

    #[test]
    fn a_store_that_cannot_be_read_says_nothing_of_the_plugin() {
        let unreadable = Failure {
            kind: FailureKind::StateUnavailable,
            message: "state read failed: the store cannot be read now".into(),
        };
        let execution = execution(Err(unreadable), 0);
        assert_eq!(Signal::of(&execution), Signal::StoreFailed);
        assert!(!is_fault("state_unavailable"), "not a poison event's fault");
        assert!(is_fault("trap"));
        assert!(!reasons().any(|reason| reason == "state_unavailable"));
    }

    #[test]
    fn only_the_trailing_traps_and_limit_hits_count_as_in_a_row() {
        let history: Vec<Attempt> = ["trap", "retry_later", "deadline", "out_of_fuel"]
            .into_iter()
            .map(attempt)
            .collect();
        assert_eq!(faults_in_a_row(&history), 2);
        assert_eq!(
            faults_in_a_row(&history[..2]),
            0,
            "retry_later breaks the run"
        );
        assert_eq!(faults_in_a_row(&[]), 0);
    }

    #[test]
    fn every_reason_is_distinct() {
        let all: Vec<_> = reasons().collect();
        let mut unique = all.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(all.len(), unique.len());
        assert!(all.contains(&"trap") && all.contains(&RETRY_LATER));
    }
}
