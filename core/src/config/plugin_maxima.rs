//! `[plugin_limits]`: the operator's ceilings on what one plugin may run with.
//! A manifest (`NAME.toml`, written by whoever wrote the plugin) may only
//! narrow them; `[plugin_defaults]` and `[plugins.NAME]` (the operator's own)
//! may set anything up to them. A value above its maximum is refused, not
//! clamped: a plugin given less fuel, memory or time than it asks for would
//! fail in ways its author never saw, and a refusal that names the limit is
//! clearer than a quietly smaller pool or fewer attempts.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, PluginLimits};

/// The `[plugin_limits]` section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPluginMaxima {
    fuel: Option<u64>,
    memory_bytes: Option<usize>,
    deadline_ms: Option<u64>,
    instances: Option<u32>,
    max_attempts: Option<u32>,
}

/// The most any one plugin may run with.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginMaxima {
    /// Fuel per delivery.
    pub fuel: u64,
    /// Linear memory of one instance, all its memories together.
    pub memory_bytes: usize,
    /// Wall-clock deadline of one delivery.
    pub deadline: Duration,
    /// Instance slots: each is reserved in the pool at start-up.
    pub instances: u32,
    /// Attempts before a delivery is dead-lettered.
    pub max_attempts: u32,
}

impl Default for PluginMaxima {
    fn default() -> Self {
        PluginMaxima {
            // Ten times the default: about ten seconds of compute, for a
            // heavy transform, never a handler that loops.
            fuel: 10_000_000_000,
            // Four times the default: an interpreted guest with a large heap
            // fits; a few plugins at the maximum still fit a back-end node.
            memory_bytes: 512 << 20,
            // A minute: past it, work belongs in a job of its own; a lease
            // held longer hides a lost delivery as long.
            deadline: Duration::from_secs(60),
            // Each slot may hold `memory_bytes` and is sized into the pool at
            // start-up: 32 busy slots already outnumber two cores many times.
            instances: 32,
            // With the default backoff (doubling to a minute) about twenty
            // minutes of retrying: an outage longer than that is a dead letter
            // to replay, not a delivery to keep hammering.
            max_attempts: 25,
        }
    }
}

/// One limit above its maximum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Excess {
    /// The key, as written in a manifest or `[plugins.NAME]`.
    key: &'static str,
    /// The value asked for.
    asked: u128,
    /// The value `[plugin_limits]` allows.
    maximum: u128,
}

impl Excess {
    /// Why the value is refused, and what would do.
    pub(super) fn refusal(&self) -> String {
        let Excess {
            key,
            asked,
            maximum,
        } = self;
        format!(
            "{key} = {asked} is above the maximum of {maximum} ([plugin_limits] {key} in weir.toml); \
             ask for at most {maximum}, or raise [plugin_limits] {key}"
        )
    }
}

impl PluginMaxima {
    /// The maxima `raw` sets, over the defaults.
    pub(super) fn resolve(raw: &RawPluginMaxima) -> Result<PluginMaxima, ConfigError> {
        let base = PluginMaxima::default();
        let maxima = PluginMaxima {
            fuel: raw.fuel.unwrap_or(base.fuel),
            memory_bytes: raw.memory_bytes.unwrap_or(base.memory_bytes),
            deadline: raw
                .deadline_ms
                .map(Duration::from_millis)
                .unwrap_or(base.deadline),
            instances: raw.instances.unwrap_or(base.instances),
            max_attempts: raw.max_attempts.unwrap_or(base.max_attempts),
        };
        let zero = [
            ("fuel", maxima.fuel == 0),
            ("memory_bytes", maxima.memory_bytes < (64 << 10)),
            ("deadline_ms", maxima.deadline.is_zero()),
            ("instances", maxima.instances == 0),
            ("max_attempts", maxima.max_attempts == 0),
        ];
        if let Some((key, _)) = zero.iter().find(|(_, bad)| *bad) {
            return Err(ConfigError::Invalid(format!(
                "[plugin_limits] {key} is out of range (memory_bytes needs at least one 64 KiB page, the others must be positive)"
            )));
        }
        Ok(maxima)
    }

    /// `limits` with each value above its maximum lowered to it: the
    /// built-in defaults under maxima an operator set lower than them.
    pub(super) fn narrow(&self, limits: PluginLimits) -> PluginLimits {
        PluginLimits {
            fuel: limits.fuel.min(self.fuel),
            memory_bytes: limits.memory_bytes.min(self.memory_bytes),
            deadline: limits.deadline.min(self.deadline),
            instances: limits.instances.min(self.instances),
            max_attempts: limits.max_attempts.min(self.max_attempts),
            ..limits
        }
    }

    /// Every limit of `limits` above its maximum.
    pub(super) fn excesses(&self, limits: &PluginLimits) -> Vec<Excess> {
        let wide = |value: usize| value as u128;
        [
            ("fuel", limits.fuel.into(), self.fuel.into()),
            (
                "memory_bytes",
                wide(limits.memory_bytes),
                wide(self.memory_bytes),
            ),
            (
                "deadline_ms",
                limits.deadline.as_millis(),
                self.deadline.as_millis(),
            ),
            ("instances", limits.instances.into(), self.instances.into()),
            (
                "max_attempts",
                limits.max_attempts.into(),
                self.max_attempts.into(),
            ),
        ]
        .into_iter()
        .filter(|(_, asked, maximum)| asked > maximum)
        .map(|(key, asked, maximum)| Excess {
            key,
            asked,
            maximum,
        })
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_fit_under_the_maxima_and_each_excess_is_named() {
        let maxima = PluginMaxima::default();
        assert!(maxima.excesses(&PluginLimits::default()).is_empty());
        let greedy = PluginLimits {
            memory_bytes: 1 << 30,
            instances: 33,
            ..PluginLimits::default()
        };
        let refusals: Vec<String> = maxima
            .excesses(&greedy)
            .iter()
            .map(Excess::refusal)
            .collect();
        assert_eq!(refusals.len(), 2, "{refusals:?}");
        assert!(
            refusals[0].starts_with(
                "memory_bytes = 1073741824 is above the maximum of 536870912 ([plugin_limits] memory_bytes"
            ),
            "{refusals:?}"
        );
        assert!(refusals[1].starts_with("instances = 33 is above the maximum of 32"));
    }

    #[test]
    fn a_zero_maximum_is_refused_naming_it() {
        let raw = RawPluginMaxima {
            deadline_ms: Some(0),
            ..RawPluginMaxima::default()
        };
        let error = PluginMaxima::resolve(&raw).expect_err("zero").to_string();
        assert!(error.contains("[plugin_limits] deadline_ms"), "{error}");
    }
}
