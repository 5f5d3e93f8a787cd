//! How long a delivery waits before its next attempt.

use std::time::Duration;

use crate::config::PluginLimits;

/// The longest retry hint a handler can ask for.
const MAX_HINT: Duration = Duration::from_secs(3600);

/// How far past its hint a hinted retry may wait: a burst of deliveries
/// throttled at once with the same hint comes back spread over this share
/// of it, not all in the same millisecond.
const HINT_SPREAD: u64 = 4;

/// The handler's own hint when it gave one (`retry-later(ms)`, ms > 0: its
/// downstream said when to come back, as a `Retry-After` does), up to a
/// quarter later; otherwise exponential backoff with full jitter (uniform in
/// [0, initial × 2^(attempts-1)], capped), so retries of a burst spread out
/// instead of returning together.
pub fn retry_delay(limits: &PluginLimits, attempts: u32, hint_ms: Option<u64>) -> Duration {
    if let Some(hint_ms) = hint_ms.filter(|&ms| ms > 0) {
        let hint_ms = hint_ms.min(MAX_HINT.as_millis() as u64);
        return Duration::from_millis(fastrand::u64(hint_ms..=hint_ms + hint_ms / HINT_SPREAD));
    }
    let exponent = attempts.saturating_sub(1).min(32);
    let ceiling = limits
        .backoff_initial
        .saturating_mul(1u32 << exponent.min(31))
        .min(limits.backoff_max);
    Duration::from_millis(fastrand::u64(0..=ceiling.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> PluginLimits {
        PluginLimits {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..PluginLimits::default()
        }
    }

    #[test]
    fn backoff_without_a_hint_is_capped() {
        let limits = limits();
        for attempts in 1..40 {
            assert!(retry_delay(&limits, attempts, None) <= Duration::from_millis(1000));
            assert!(retry_delay(&limits, attempts, Some(0)) <= Duration::from_millis(1000));
        }
        assert!(retry_delay(&limits, 1, None) <= Duration::from_millis(100));
    }

    #[test]
    fn a_hint_replaces_the_backoff_spread_over_a_quarter_of_it() {
        let limits = limits();
        let (hint, latest) = (Duration::from_millis(50), Duration::from_millis(62));
        // The backoff at attempt 9 would be up to a second: the hint wins.
        for attempts in [1, 9] {
            let delays: Vec<_> = (0..200)
                .map(|_| retry_delay(&limits, attempts, Some(50)))
                .collect();
            assert!(
                delays.iter().all(|d| (hint..=latest).contains(d)),
                "{delays:?}"
            );
            assert!(
                delays.iter().any(|d| *d > hint),
                "spread out, not all at the hint"
            );
        }
        assert!(retry_delay(&limits, 1, Some(5000)) >= Duration::from_millis(5000));
        assert!(retry_delay(&limits, 1, Some(u64::MAX)) >= MAX_HINT);
        assert!(retry_delay(&limits, 1, Some(u64::MAX)) <= MAX_HINT + MAX_HINT / 4);
    }
}
