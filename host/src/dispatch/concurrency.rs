//! Adaptive concurrency per plugin: how many of its instance slots a plugin may
//! use right now. When its handlers slow down (a downstream it waits on is
//! struggling) or ask to retry, the limit drops multiplicatively; while they
//! run at their usual speed it climbs back one slot per limit's worth of
//! successes (AIMD). It stays within [1, instance slots].

use std::sync::Mutex;
use std::time::Duration;

/// How much slower than its usual latency an attempt must be to count as congestion.
const SLOW_FACTOR: f64 = 2.0;
/// ... and by at least this much: a millisecond handler that takes three on a
/// busy machine is jitter, not a struggling downstream.
const SLOW_FLOOR: Duration = Duration::from_millis(50);
/// How far one congestion signal cuts the limit.
const DECREASE: f64 = 0.5;
/// Weight of a new latency sample in the usual-latency average.
const BASELINE_WEIGHT: f64 = 0.05;

/// One plugin's limit.
pub struct AdaptiveLimit {
    max: f64,
    inner: Mutex<Inner>,
}

struct Inner {
    limit: f64,
    /// The usual latency: an average that follows fast attempts quickly and
    /// slow ones slowly, so a slowdown stands out against it.
    baseline: Option<Duration>,
}

impl AdaptiveLimit {
    /// A limit starting at `max` (all instance slots).
    pub fn new(max: u32) -> AdaptiveLimit {
        AdaptiveLimit {
            max: f64::from(max.max(1)),
            inner: Mutex::new(Inner {
                limit: f64::from(max.max(1)),
                baseline: None,
            }),
        }
    }

    /// Deliveries that may run at once now.
    pub fn current(&self) -> u32 {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).limit as u32
    }

    /// Adjusts the limit after an attempt that took `latency`; `congested` is
    /// true when the handler asked to retry or ran out of time.
    pub fn record(&self, latency: Duration, congested: bool) -> u32 {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let baseline = *inner.baseline.get_or_insert(latency);
        let slow = latency > baseline.mul_f64(SLOW_FACTOR).max(baseline + SLOW_FLOOR);
        if congested || slow {
            inner.limit = (inner.limit * DECREASE).max(1.0);
        } else {
            inner.limit = (inner.limit + 1.0 / inner.limit).min(self.max);
        }
        // Faster samples pull the baseline down at once; slower ones barely move it.
        inner.baseline = Some(if latency < baseline {
            latency
        } else {
            baseline.mul_f64(1.0 - BASELINE_WEIGHT) + latency.mul_f64(BASELINE_WEIGHT)
        });
        inner.limit as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowdowns_cut_the_limit_and_recovery_restores_it() {
        let limit = AdaptiveLimit::new(8);
        let fast = Duration::from_millis(1);
        for _ in 0..10 {
            limit.record(fast, false);
        }
        assert_eq!(limit.current(), 8, "never above the slots");
        limit.record(Duration::from_millis(20), false);
        assert_eq!(limit.current(), 8, "a little jitter is not congestion");
        limit.record(Duration::from_millis(200), false);
        limit.record(Duration::from_millis(200), false);
        assert_eq!(limit.current(), 2, "two slow attempts halve it twice");
        for _ in 0..5 {
            limit.record(Duration::from_millis(200), true);
        }
        assert_eq!(limit.current(), 1, "never below one");
        for _ in 0..100 {
            limit.record(fast, false);
        }
        assert_eq!(
            limit.current(),
            8,
            "it climbs back as attempts are fast again"
        );
    }
}
