//! One circuit breaker: the policy, pure and clock-driven, that decides when
//! weir stops feeding one (route, tenant) of a plugin for a cool-down.
//!
//! Closed, it counts the calls of a sliding window (`call_window.rs`) and
//! opens once the window holds at least `min_calls` and either the share of
//! faults reaches `failure_rate`, or the share of calls that did not succeed
//! (faults and `retry-later`) reaches `retry_later_rate` and has for at least
//! half the window: a throttled downstream that still lets some work through
//! slows weir down (the adaptive limit, the retry hints) rather than stopping
//! it, and a burst whose first attempts are all asked to wait is not a
//! sustained rate. Open, nothing runs until
//! the cool-down ends; then a few probes run. A probe is a fresh delivery: one
//! that already failed waits, so a poison event cannot hold the breaker open
//! (after a cool-down with no fresh delivery, any delivery may probe, so a
//! scope with only retries left is not stuck). All probes must succeed to
//! close the breaker; one fault opens it again. A probe that has not
//! reported a cool-down after it started is presumed lost with its worker,
//! and another is handed out, so a half-open breaker cannot wait forever.

use std::sync::Mutex;
use std::time::Instant;

use super::call_window::{CallWindow, Tally};
use super::health::{RETRY_LATER, Signal};
use crate::config::BreakerLimits;

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BreakerState {
    /// Deliveries run.
    Closed,
    /// A few probes run; the rest wait for their verdict.
    HalfOpen,
    /// Nothing runs until the cool-down ends.
    Open,
}

impl BreakerState {
    /// As `GET /v1/plugins` shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// What a worker may do with a delivery now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Run it.
    Run,
    /// Set it aside until this instant.
    WaitUntil(Instant),
    /// Set it aside until the probes decided (any recorded outcome).
    WaitForProbes,
}

/// Why a breaker opened last.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trip {
    /// The signal that opened it: a fault reason (`trap`, `deadline`,
    /// `outbound`, ...) or `retry_later`.
    pub reason: &'static str,
    /// The share of calls in the window that did not succeed that way.
    pub rate: f64,
    /// Calls in the window (the probes, when a probe failed).
    pub calls: u32,
    /// Whether a failed probe opened it again.
    pub probe: bool,
    /// When it lets probes through.
    pub until: Instant,
}

/// A breaker's state and, unless closed, why it opened.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    /// Where it is.
    pub state: BreakerState,
    /// Why it opened last; `None` while closed.
    pub trip: Option<Trip>,
}

/// One breaker.
pub struct Breaker {
    limits: BreakerLimits,
    inner: Mutex<Inner>,
}

struct Inner {
    state: BreakerState,
    /// Calls while closed.
    window: CallWindow,
    /// The last trip, while not closed.
    trip: Option<Trip>,
    /// When it turned half-open: retries may probe a cool-down later.
    half_open_since: Instant,
    /// Probes handed out and passed while half-open.
    probes_started: u32,
    probes_passed: u32,
    /// When the last probe was handed out: one that has not reported a
    /// cool-down later is presumed lost with its worker.
    last_probe_at: Instant,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(limits: BreakerLimits) -> Breaker {
        Breaker {
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                window: CallWindow::new(limits.window),
                trip: None,
                half_open_since: Instant::now(),
                probes_started: 0,
                probes_passed: 0,
                last_probe_at: Instant::now(),
            }),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The state and why it opened.
    pub fn status(&self) -> Status {
        let inner = self.lock();
        Status {
            state: inner.state,
            trip: inner.trip,
        }
    }

    /// Whether it is closed with nothing counted: it can be forgotten.
    pub fn is_idle(&self, now: Instant) -> bool {
        let mut inner = self.lock();
        inner.state == BreakerState::Closed && inner.window.is_empty(now)
    }

    /// Whether a delivery may run now; `fresh` if it never ran before. Counts
    /// a probe if it may run while half-open.
    pub fn permission(&self, now: Instant, fresh: bool) -> Permission {
        let mut inner = self.lock();
        if inner.state == BreakerState::Open {
            let until = inner.trip.map_or(now, |trip| trip.until);
            if now < until {
                return Permission::WaitUntil(until);
            }
            inner.state = BreakerState::HalfOpen;
            inner.half_open_since = now;
            inner.probes_started = 0;
            inner.probes_passed = 0;
        }
        if inner.state == BreakerState::HalfOpen {
            if inner.probes_started > inner.probes_passed
                && now >= inner.last_probe_at + self.limits.cooldown
            {
                inner.probes_started = inner.probes_passed;
            }
            let retries_may_probe = now >= inner.half_open_since + self.limits.cooldown;
            if inner.probes_started >= self.limits.probes || !(fresh || retries_may_probe) {
                return Permission::WaitForProbes;
            }
            inner.probes_started += 1;
            inner.last_probe_at = now;
        }
        Permission::Run
    }

    /// Records what a call that was allowed to run signalled; returns the
    /// trip if this opened the breaker.
    pub fn record(&self, now: Instant, signal: Signal) -> Option<Trip> {
        let mut inner = self.lock();
        match (inner.state, signal) {
            // A call that started before the breaker opened.
            (BreakerState::Open, _) => None,
            (BreakerState::Closed, _) => {
                inner.window.record(now, signal);
                let tally = inner.window.tally(now);
                let trip = self.judge(&tally, now)?;
                Some(open(&mut inner, trip))
            }
            // A verdict, or the store's failure, decides nothing: the probe
            // is handed back.
            (BreakerState::HalfOpen, Signal::Verdict | Signal::StoreFailed) => {
                inner.probes_started = inner.probes_started.saturating_sub(1);
                None
            }
            (BreakerState::HalfOpen, Signal::Healthy) => {
                inner.probes_passed += 1;
                if inner.probes_passed >= self.limits.probes {
                    inner.state = BreakerState::Closed;
                    inner.trip = None;
                    inner.window.clear();
                }
                None
            }
            (BreakerState::HalfOpen, Signal::Throttled | Signal::Fault(_)) => {
                let reason = match signal {
                    Signal::Fault(reason) => reason,
                    _ => RETRY_LATER,
                };
                let trip = Trip {
                    reason,
                    rate: 1.0,
                    calls: inner.probes_started,
                    probe: true,
                    until: now + self.limits.cooldown,
                };
                Some(open(&mut inner, trip))
            }
        }
    }

    /// The trip the closed window's `tally` calls for, if any.
    fn judge(&self, tally: &Tally, now: Instant) -> Option<Trip> {
        if tally.calls < self.limits.min_calls {
            return None;
        }
        let (reason, rate) = if tally.fault_rate() >= self.limits.failure_rate {
            (tally.top_fault?, tally.fault_rate())
        // Sustained for half the window: a burst whose first attempts were
        // all asked to wait, then handled, is a throttle doing its job.
        } else if tally.unsuccessful_rate() >= self.limits.retry_later_rate
            && tally.span >= self.limits.window / 2
        {
            let reason = if tally.throttled >= tally.faults {
                RETRY_LATER
            } else {
                tally.top_fault?
            };
            (reason, tally.unsuccessful_rate())
        } else {
            return None;
        };
        Some(Trip {
            reason,
            rate,
            calls: tally.calls,
            probe: false,
            until: now + self.limits.cooldown,
        })
    }
}

fn open(inner: &mut Inner, trip: Trip) -> Trip {
    inner.state = BreakerState::Open;
    inner.trip = Some(trip);
    inner.window.clear();
    trip
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const TRAP: Signal = Signal::Fault("trap");

    fn breaker() -> Breaker {
        Breaker::new(BreakerLimits {
            window: Duration::from_secs(60),
            min_calls: 4,
            failure_rate: 0.5,
            retry_later_rate: 0.9,
            cooldown: Duration::from_secs(10),
            probes: 1,
        })
    }

    fn record_all(breaker: &Breaker, now: Instant, signals: &[Signal]) -> Option<Trip> {
        signals
            .iter()
            .map(|&signal| breaker.record(now, signal))
            .fold(None, |trip, next| trip.or(next))
    }

    #[test]
    fn verdicts_never_open_it() {
        let (breaker, now) = (breaker(), Instant::now());
        assert_eq!(record_all(&breaker, now, &[Signal::Verdict; 100]), None);
        assert_eq!(breaker.status().state, BreakerState::Closed);
        assert_eq!(breaker.permission(now, true), Permission::Run);
    }

    #[test]
    fn a_fault_rate_opens_it_only_past_the_minimum_calls() {
        let (breaker, now) = (breaker(), Instant::now());
        assert_eq!(
            record_all(&breaker, now, &[TRAP, TRAP, TRAP]),
            None,
            "3 < 4 calls"
        );
        let trip = breaker
            .record(now, Signal::Healthy)
            .expect("3 of 4 trapped");
        assert_eq!((trip.reason, trip.calls, trip.probe), ("trap", 4, false));
        assert!((trip.rate - 0.75).abs() < 1e-9);
        assert_eq!(trip.until, now + Duration::from_secs(10));
        assert_eq!(
            breaker.permission(now, true),
            Permission::WaitUntil(trip.until)
        );
    }

    #[test]
    fn retry_later_opens_it_only_when_almost_nothing_succeeds_for_a_while() {
        let (breaker, now) = (breaker(), Instant::now());
        let second = Duration::from_secs(1);
        // Retried twice, then handled: two thirds did not succeed, under 0.9.
        for n in 0..30 {
            let signals = [Signal::Throttled, Signal::Throttled, Signal::Healthy];
            assert_eq!(record_all(&breaker, now + n * second, &signals), None);
        }
        // A burst whose first attempts are all asked to wait is not sustained.
        let later = now + 100 * second;
        assert_eq!(record_all(&breaker, later, &[Signal::Throttled; 20]), None);
        let trip = breaker
            .record(later + 30 * second, Signal::Throttled)
            .expect("nothing succeeded for half the window");
        assert_eq!(trip.reason, RETRY_LATER);
        assert_eq!(trip.rate, 1.0);
    }

    #[test]
    fn probes_are_fresh_deliveries_and_close_it_or_open_it_again() {
        let (breaker, now) = (breaker(), Instant::now());
        let trip = record_all(&breaker, now, &[TRAP; 4]).expect("opened");
        let after = trip.until;
        assert_eq!(breaker.permission(after, false), Permission::WaitForProbes);
        assert_eq!(breaker.status().state, BreakerState::HalfOpen);
        assert_eq!(
            breaker.permission(after, true),
            Permission::Run,
            "a fresh probe"
        );
        assert_eq!(breaker.permission(after, true), Permission::WaitForProbes);
        // The probe's handler judged its event bad: no verdict on health.
        assert_eq!(breaker.record(after, Signal::Verdict), None);
        assert_eq!(breaker.permission(after, true), Permission::Run);
        let again = breaker
            .record(after, TRAP)
            .expect("a failed probe opens it again");
        assert!(again.probe);
        let after = again.until;
        assert_eq!(breaker.permission(after, true), Permission::Run);
        assert_eq!(breaker.record(after, Signal::Healthy), None);
        assert_eq!(breaker.status().state, BreakerState::Closed);
        assert!(breaker.status().trip.is_none());
    }

    #[test]
    fn a_probe_that_never_reports_is_replaced_after_a_cooldown() {
        let (breaker, now) = (breaker(), Instant::now());
        let trip = record_all(&breaker, now, &[TRAP; 4]).expect("opened");
        assert_eq!(breaker.permission(trip.until, true), Permission::Run);
        assert_eq!(
            breaker.permission(trip.until, true),
            Permission::WaitForProbes
        );
        let later = trip.until + Duration::from_secs(10);
        assert_eq!(breaker.permission(later, true), Permission::Run, "lost");
        assert_eq!(breaker.permission(later, true), Permission::WaitForProbes);
    }

    #[test]
    fn retries_may_probe_after_a_cooldown_without_fresh_deliveries() {
        let (breaker, now) = (breaker(), Instant::now());
        let trip = record_all(&breaker, now, &[TRAP; 4]).expect("opened");
        assert_eq!(
            breaker.permission(trip.until, false),
            Permission::WaitForProbes
        );
        let later = trip.until + Duration::from_secs(10);
        assert_eq!(breaker.permission(later, false), Permission::Run);
    }
}
