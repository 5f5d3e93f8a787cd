//! High- and low-water marks: admission control starts shedding at the high
//! mark and accepts again only once back at or under the low one, so it does
//! not flap.

use super::ConfigError;

/// A pair of marks on one measure (deliveries, milliseconds, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watermarks {
    /// At or above this, shed.
    pub high: u64,
    /// At or under this, accept again (so a low mark of 0 means "once empty").
    pub low: u64,
}

impl Watermarks {
    /// The marks of `[section] {name}_high_water` / `{name}_low_water`; the low
    /// mark defaults to 10% below the high one.
    pub fn resolve(
        high: u64,
        low: Option<u64>,
        section: &str,
        name: &str,
    ) -> Result<Watermarks, ConfigError> {
        let low = low.unwrap_or(high / 10 * 9);
        if high == 0 || low > high {
            return Err(ConfigError::Invalid(format!(
                "[{section}] {name}_high_water must be positive and {name}_low_water \
                 ({low}) not above it ({high})"
            )));
        }
        Ok(Watermarks { high, low })
    }

    /// Whether to shed now, given whether it was shedding and the measure now.
    pub fn shed(&self, was_shedding: bool, value: u64) -> bool {
        if was_shedding {
            value > self.low
        } else {
            value >= self.high
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheds_from_high_until_back_at_the_low_mark() {
        let marks = Watermarks::resolve(100, None, "ingest", "backlog").expect("valid marks");
        assert_eq!(marks.low, 90);
        assert!(!marks.shed(false, 99));
        assert!(marks.shed(false, 100));
        assert!(marks.shed(true, 91));
        assert!(!marks.shed(true, 90));
        let tiny = Watermarks::resolve(1, None, "ingest", "backlog").expect("valid marks");
        assert_eq!(tiny.low, 0);
        assert!(!tiny.shed(true, 0), "a low mark of 0 reopens once empty");
    }

    #[test]
    fn low_above_high_is_refused() {
        let error = Watermarks::resolve(10, Some(11), "tenants.acme", "backlog")
            .expect_err("low above high");
        assert!(
            error
                .to_string()
                .contains("[tenants.acme] backlog_high_water")
        );
    }
}
