//! How long a delivery waits before its next attempt.

use std::time::Duration;

use crate::config::PluginLimits;

/// The longest retry hint a handler can ask for.
const MAX_HINT: Duration = Duration::from_secs(3600);

/// Exponential backoff with full jitter (uniform in [0, initial × 2^(attempts-1)],
/// capped), so retries of a burst spread out instead of returning together; never
/// sooner than the handler's own hint.
pub fn retry_delay(limits: &PluginLimits, attempts: u32, hint_ms: Option<u64>) -> Duration {
    let exponent = attempts.saturating_sub(1).min(32);
    let ceiling = limits
        .backoff_initial
        .saturating_mul(1u32 << exponent.min(31))
        .min(limits.backoff_max);
    let jittered = Duration::from_millis(fastrand::u64(0..=ceiling.as_millis() as u64));
    let hint = hint_ms
        .map(Duration::from_millis)
        .unwrap_or_default()
        .min(MAX_HINT);
    jittered.max(hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_honours_hints() {
        let limits = PluginLimits {
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..PluginLimits::default()
        };
        for attempts in 1..40 {
            assert!(retry_delay(&limits, attempts, None) <= Duration::from_millis(1000));
        }
        assert!(retry_delay(&limits, 1, None) <= Duration::from_millis(100));
        assert!(retry_delay(&limits, 1, Some(5000)) >= Duration::from_millis(5000));
        assert_eq!(retry_delay(&limits, 1, Some(u64::MAX)), MAX_HINT);
    }
}
