//! What a route changes about the deliveries it makes, over the limits of the
//! plugin they go to: `[route.options]` with `max_attempts`,
//! `backoff_initial_ms`, `backoff_max_ms`, `deadline_ms`, and `ordering`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::PluginLimits;

/// The longest deadline a route may set: a lease must not outlive it by days.
const MAX_DEADLINE_MS: u64 = 3_600_000;

/// A route's overrides; each absent one leaves the plugin's limit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteOptions {
    /// Attempts before a delivery of this route is dead-lettered.
    pub max_attempts: Option<u32>,
    /// Backoff before the first retry.
    pub backoff_initial_ms: Option<u64>,
    /// Cap on the backoff.
    pub backoff_max_ms: Option<u64>,
    /// Wall-clock deadline of one delivery.
    pub deadline_ms: Option<u64>,
    /// Whether deliveries sharing a `partitionkey` run one at a time, in order.
    #[serde(default)]
    pub ordering: Ordering,
}

/// How a route's deliveries with the same `partitionkey` run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Ordering {
    /// One at a time per (plugin, tenant, partitionkey), in ingest order.
    #[default]
    Partitionkey,
    /// As slots allow, like events without a key: for handlers that do not
    /// care about order and want the throughput.
    None,
}

impl RouteOptions {
    /// Why the options cannot be used, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("max_attempts", self.max_attempts.map(u64::from)),
            ("backoff_initial_ms", self.backoff_initial_ms),
            ("backoff_max_ms", self.backoff_max_ms),
            ("deadline_ms", self.deadline_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == Some(0)) {
            return Err(format!("options.{name} must be positive"));
        }
        if self.deadline_ms.is_some_and(|ms| ms > MAX_DEADLINE_MS) {
            return Err(format!(
                "options.deadline_ms may be at most {MAX_DEADLINE_MS} (an hour)"
            ));
        }
        match (self.backoff_initial_ms, self.backoff_max_ms) {
            (Some(initial), Some(max)) if initial > max => Err(format!(
                "options.backoff_initial_ms ({initial}) is over options.backoff_max_ms ({max})"
            )),
            _ => Ok(()),
        }
    }

    /// `limits` with these overrides.
    pub fn apply(&self, limits: &PluginLimits) -> PluginLimits {
        let mut limits = limits.clone();
        limits.max_attempts = self.max_attempts.unwrap_or(limits.max_attempts);
        if let Some(ms) = self.backoff_initial_ms {
            limits.backoff_initial = Duration::from_millis(ms);
        }
        if let Some(ms) = self.backoff_max_ms {
            limits.backoff_max = Duration::from_millis(ms);
        }
        if let Some(ms) = self.deadline_ms {
            limits.deadline = Duration::from_millis(ms);
        }
        limits
    }

    /// The deadline it sets, if any.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline_ms.map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_override_only_what_they_set() {
        let limits = PluginLimits::default();
        let options = RouteOptions {
            max_attempts: Some(1),
            deadline_ms: Some(250),
            ..RouteOptions::default()
        };
        let applied = options.apply(&limits);
        assert_eq!(applied.max_attempts, 1);
        assert_eq!(applied.deadline, Duration::from_millis(250));
        assert_eq!(applied.backoff_initial, limits.backoff_initial);
        assert_eq!(applied.fuel, limits.fuel);
    }

    #[test]
    fn ordering_is_by_partitionkey_unless_a_route_says_none() {
        let parse = |text: &str| toml::from_str::<RouteOptions>(text);
        assert_eq!(parse("").expect("empty").ordering, Ordering::Partitionkey);
        let none = parse(r#"ordering = "none""#).expect("valid");
        assert_eq!(none.ordering, Ordering::None);
        let error = parse(r#"ordering = "sorted""#).expect_err("unknown");
        assert!(error.to_string().contains("partitionkey"), "{error}");
    }

    #[test]
    fn unusable_options_are_refused_by_name() {
        for (options, named) in [
            (
                RouteOptions {
                    max_attempts: Some(0),
                    ..Default::default()
                },
                "max_attempts",
            ),
            (
                RouteOptions {
                    deadline_ms: Some(MAX_DEADLINE_MS + 1),
                    ..Default::default()
                },
                "deadline_ms",
            ),
            (
                RouteOptions {
                    backoff_initial_ms: Some(500),
                    backoff_max_ms: Some(100),
                    ..Default::default()
                },
                "backoff_initial_ms",
            ),
        ] {
            let error = options.check().expect_err(named);
            assert!(error.contains(named), "{error}");
        }
    }
}
