//! Adaptive concurrency per plugin: how many of its instance slots a plugin may
//! use right now. When its handlers slow down or run out of time (a
//! downstream it waits on is struggling) the limit halves; when they ask to
//! retry it drops a little; while they run at their usual speed it climbs
//! back one slot per limit's worth of successes (AIMD). It stays within
//! [1, instance slots].

use std::sync::Mutex;
use std::time::Duration;

/// How much slower than its usual latency an attempt must be to count as congestion.
const SLOW_FACTOR: f64 = 2.0;
/// ... and by at least this much: a millisecond handler that takes three on a
/// busy machine is jitter, not a struggling downstream.
const SLOW_FLOOR: Duration = Duration::from_millis(50);
/// How far a slow or timed-out attempt cuts the limit.
const DECREASE: f64 = 0.5;
/// How far a `retry-later` cuts it. The answer carries its own delay for its
/// event, so it cuts gently: with a share `p` of attempts asking to retry,
/// the limit settles where cuts and growth balance, at about
/// sqrt((1 − p) / (p × 0.01)) slots: every slot of a 4-slot plugin while
/// up to 8 attempts in 10 retry (a downstream that throttles now and then,
/// or a plugin that retries twice before it gets through), about 2 once 19
/// in 20 do, one once nearly all do.
const THROTTLE_DECREASE: f64 = 0.99;
/// Weight of a new latency sample in the usual-latency average.
const BASELINE_WEIGHT: f64 = 0.05;

/// What an attempt says about the load on the plugin's downstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Nothing but its latency.
    Normal,
    /// It asked to be retried later.
    Throttled,
    /// It ran out of time.
    Overloaded,
}

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

    /// Deliveries that may run at once now: the limit to the nearest slot.
    /// Truncated, one gentle cut would take a full slot from a plugin at
    /// its maximum, and a plugin whose downstream throttles now and then
    /// would run a slot short of where cuts and growth balance.
    pub fn current(&self) -> u32 {
        slots(self.inner.lock().unwrap_or_else(|p| p.into_inner()).limit)
    }

    /// How long its attempts usually take, once one was recorded.
    pub fn usual_latency(&self) -> Option<Duration> {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .baseline
    }

    /// Adjusts the limit after an attempt that took `latency` and said `load`.
    pub fn record(&self, latency: Duration, load: Load) -> u32 {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let baseline = *inner.baseline.get_or_insert(latency);
        let slow = latency > baseline.mul_f64(SLOW_FACTOR).max(baseline + SLOW_FLOOR);
        let cut = match load {
            _ if slow => Some(DECREASE),
            Load::Overloaded => Some(DECREASE),
            Load::Throttled => Some(THROTTLE_DECREASE),
            Load::Normal => None,
        };
        inner.limit = match cut {
            Some(factor) => (inner.limit * factor).max(1.0),
            None => (inner.limit + 1.0 / inner.limit).min(self.max),
        };
        // Faster samples pull the baseline down at once; slower ones barely move it.
        inner.baseline = Some(if latency < baseline {
            latency
        } else {
            baseline.mul_f64(1.0 - BASELINE_WEIGHT) + latency.mul_f64(BASELINE_WEIGHT)
        });
        slots(inner.limit)
    }
}

fn slots(limit: f64) -> u32 {
    limit.round() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowdowns_cut_the_limit_and_recovery_restores_it() {
        let limit = AdaptiveLimit::new(8);
        let fast = Duration::from_millis(1);
        for _ in 0..10 {
            limit.record(fast, Load::Normal);
        }
        assert_eq!(limit.current(), 8, "never above the slots");
        limit.record(Duration::from_millis(20), Load::Normal);
        assert_eq!(limit.current(), 8, "a little jitter is not congestion");
        limit.record(Duration::from_millis(200), Load::Normal);
        limit.record(Duration::from_millis(200), Load::Normal);
        assert_eq!(limit.current(), 2, "two slow attempts halve it twice");
        for _ in 0..5 {
            limit.record(Duration::from_millis(200), Load::Overloaded);
        }
        assert_eq!(limit.current(), 1, "never below one");
        for _ in 0..100 {
            limit.record(fast, Load::Normal);
        }
        assert_eq!(
            limit.current(),
            8,
            "it climbs back as attempts are fast again"
        );
    }

    #[test]
    fn one_retry_later_takes_no_slot_and_a_run_of_them_takes_them_one_by_one() {
        let fast = Duration::from_millis(1);
        let limit = AdaptiveLimit::new(4);
        assert_eq!(limit.record(fast, Load::Throttled), 4);
        let slots: Vec<u32> = (0..200)
            .map(|_| limit.record(fast, Load::Throttled))
            .collect();
        assert!(
            slots.windows(2).all(|w| w[0] >= w[1] && w[0] - w[1] <= 1),
            "{slots:?}"
        );
        assert_eq!(slots.last(), Some(&1));
    }

    #[test]
    fn an_occasional_retry_later_keeps_the_slots_and_a_steady_one_gives_them_up() {
        let fast = Duration::from_millis(1);
        // The slots a 4-slot plugin keeps, at every attempt of a long run in
        // which `retry` attempts of each `of` ask to retry.
        let kept = |retry: usize, of: usize| {
            let limit = AdaptiveLimit::new(4);
            let slots: Vec<u32> = (0..3000)
                .map(|n| {
                    let load = if n % of < retry {
                        Load::Throttled
                    } else {
                        Load::Normal
                    };
                    limit.record(fast, load)
                })
                .collect();
            (
                *slots[1000..].iter().min().expect("slots"),
                *slots[1000..].iter().max().expect("slots"),
            )
        };
        // Two in three, as a plugin whose downstream answers twice "not yet".
        assert_eq!(kept(2, 3), (4, 4));
        assert_eq!(kept(4, 5), (4, 4));
        let (fewest, most) = kept(19, 20);
        assert!(fewest >= 1 && most <= 3, "19 in 20: {fewest}..{most}");
        // Every attempt asks to retry: down to one slot.
        let always = AdaptiveLimit::new(4);
        for _ in 0..100 {
            always.record(fast, Load::Throttled);
        }
        assert_eq!(always.current(), 1);
    }
}
