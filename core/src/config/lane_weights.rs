//! `[dispatch] lane_weights`: how dispatch shares a plugin's free slots among
//! priorities. Every lane has a weight of at least 1, so a lower lane always
//! gets its share, however busy the higher ones are.

use serde::Deserialize;

use super::ConfigError;
use crate::event::Priority;

/// Largest weight: a ratio of 1,000 to 1 is as far as "served first" needs to go.
const MAX_WEIGHT: u32 = 1000;

/// The table as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLaneWeights {
    critical: Option<u32>,
    high: Option<u32>,
    normal: Option<u32>,
    low: Option<u32>,
}

/// Each priority's share of dispatches while several have ready deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaneWeights([u32; 4]);

impl Default for LaneWeights {
    /// Each lane gets twice the share of the one below it.
    fn default() -> LaneWeights {
        LaneWeights([8, 4, 2, 1])
    }
}

impl LaneWeights {
    /// The weights as configured, each of the others at its default.
    pub(super) fn resolve(raw: &RawLaneWeights) -> Result<LaneWeights, ConfigError> {
        let mut weights = LaneWeights::default().0;
        let given = [raw.critical, raw.high, raw.normal, raw.low];
        for ((weight, given), priority) in weights.iter_mut().zip(given).zip(Priority::ALL) {
            let Some(given) = given else { continue };
            if !(1..=MAX_WEIGHT).contains(&given) {
                return Err(ConfigError::Invalid(format!(
                    "[dispatch] lane_weights.{} is {given}; it must be 1 to {MAX_WEIGHT} \
                     (a lane with no weight would never be served)",
                    priority.as_str()
                )));
            }
            *weight = given;
        }
        Ok(LaneWeights(weights))
    }

    /// The weight of `priority`'s lane.
    pub fn of(&self, priority: Priority) -> u32 {
        self.0[usize::from(priority.rank())]
    }
}

/// Checks a tenant's `weight` (1 where none is given).
pub(super) fn tenant_weight(weight: u32, section: &str) -> Result<u32, ConfigError> {
    if !(1..=MAX_WEIGHT).contains(&weight) {
        return Err(ConfigError::Invalid(format!(
            "[{section}] weight is {weight}; it must be 1 to {MAX_WEIGHT}"
        )));
    }
    Ok(weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnamed_lanes_keep_their_defaults_and_zero_is_refused() {
        let raw: RawLaneWeights = toml::from_str("critical = 100\nlow = 3").expect("parses");
        let weights = LaneWeights::resolve(&raw).expect("valid");
        assert_eq!(weights.of(Priority::Critical), 100);
        assert_eq!(weights.of(Priority::High), 4);
        assert_eq!(weights.of(Priority::Low), 3);
        let raw: RawLaneWeights = toml::from_str("normal = 0").expect("parses");
        let error = LaneWeights::resolve(&raw).expect_err("zero starves the lane");
        assert!(
            error.to_string().contains("lane_weights.normal is 0"),
            "{error}"
        );
        assert!(toml::from_str::<RawLaneWeights>("urgent = 2").is_err());
        let error = tenant_weight(0, "tenants.a").expect_err("zero");
        assert!(
            error.to_string().contains("[tenants.a] weight is 0"),
            "{error}"
        );
    }
}
