//! A circuit breaker per plugin. When too many recent attempts failed (a
//! broken downstream, a bad deploy), weir stops feeding the plugin for a
//! cool-down instead of burning attempts; its deliveries wait safely in the
//! queue. Then a few probes run: if all succeed the breaker closes, if one
//! fails it opens again.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use crate::config::BreakerLimits;

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Deliveries run.
    Closed,
    /// Nothing runs until the cool-down ends.
    Open,
    /// A few probes run; the rest wait for their verdict.
    HalfOpen,
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

/// What a worker may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Lease and run a delivery.
    Run,
    /// Wait until this instant, then ask again.
    WaitUntil(Instant),
    /// Wait for a probe's verdict (any recorded outcome), then ask again.
    WaitForProbes,
}

/// One plugin's breaker.
pub struct Breaker {
    limits: BreakerLimits,
    inner: Mutex<Inner>,
}

struct Inner {
    state: BreakerState,
    /// Recent outcomes while closed, newest last (true: failed).
    recent: VecDeque<bool>,
    /// When an open breaker may probe.
    open_until: Instant,
    /// Probes handed out and successes seen while half-open.
    probes_started: u32,
    probes_passed: u32,
}

impl Breaker {
    /// How long it stays open before it lets probes through.
    pub fn cooldown(&self) -> std::time::Duration {
        self.limits.cooldown
    }

    /// A closed breaker.
    pub fn new(limits: BreakerLimits) -> Breaker {
        Breaker {
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                recent: VecDeque::with_capacity(limits.window as usize),
                open_until: Instant::now(),
                probes_started: 0,
                probes_passed: 0,
            }),
            limits,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.lock().state
    }

    /// Whether a worker may start a delivery now; counts a probe if it may.
    pub fn permission(&self) -> Permission {
        let mut inner = self.lock();
        if inner.state == BreakerState::Open {
            if Instant::now() < inner.open_until {
                return Permission::WaitUntil(inner.open_until);
            }
            inner.state = BreakerState::HalfOpen;
            inner.probes_started = 0;
            inner.probes_passed = 0;
        }
        if inner.state == BreakerState::HalfOpen {
            if inner.probes_started >= self.limits.probes {
                return Permission::WaitForProbes;
            }
            inner.probes_started += 1;
        }
        Permission::Run
    }

    /// Hands back a probe that found nothing to run.
    pub fn unused_probe(&self) {
        let mut inner = self.lock();
        if inner.state == BreakerState::HalfOpen {
            inner.probes_started = inner.probes_started.saturating_sub(1);
        }
    }

    /// Records an attempt's outcome; returns true if this opened the breaker.
    pub fn record(&self, failed: bool) -> bool {
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => {
                if inner.recent.len() == self.limits.window as usize {
                    inner.recent.pop_front();
                }
                inner.recent.push_back(failed);
                let failures = inner.recent.iter().filter(|&&f| f).count();
                let full = inner.recent.len() == self.limits.window as usize;
                let rate = failures as f64 / self.limits.window as f64;
                if full && rate >= self.limits.failure_rate {
                    self.open(&mut inner);
                    return true;
                }
            }
            BreakerState::HalfOpen if failed => {
                self.open(&mut inner);
                return true;
            }
            BreakerState::HalfOpen => {
                inner.probes_passed += 1;
                if inner.probes_passed >= self.limits.probes {
                    inner.state = BreakerState::Closed;
                    inner.recent.clear();
                }
            }
            // An attempt that started before the breaker opened.
            BreakerState::Open => {}
        }
        false
    }

    fn open(&self, inner: &mut Inner) {
        inner.state = BreakerState::Open;
        inner.open_until = Instant::now() + self.limits.cooldown;
        inner.recent.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn opens_on_failures_probes_after_cooldown_and_closes_on_success() {
        let breaker = Breaker::new(BreakerLimits {
            window: 4,
            failure_rate: 0.5,
            cooldown: Duration::from_millis(20),
            probes: 1,
        });
        for failed in [false, true, false] {
            assert!(!breaker.record(failed), "the window is not full yet");
        }
        assert!(breaker.record(true), "2 of 4 failed");
        assert!(matches!(breaker.permission(), Permission::WaitUntil(_)));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(breaker.permission(), Permission::Run);
        assert_eq!(breaker.state(), BreakerState::HalfOpen);
        assert_eq!(breaker.permission(), Permission::WaitForProbes);
        assert!(breaker.record(true), "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(breaker.permission(), Permission::Run);
        assert!(!breaker.record(false));
        assert_eq!(breaker.state(), BreakerState::Closed);
    }
}
