//! The oldest nats-server weir runs against. Every commit of a delivery is a
//! JetStream atomic batch (new in 2.12.0); the releases before 2.12.14 and
//! 2.14.4 lack fixes to how a batch is applied (deduplication inside a
//! batch, deadlocks and panics while one is replicated or caught up, the
//! expected-sequence checks weir's commits make), so weir refuses to start
//! against one rather than risk losing or doubling effects.

use super::NatsError;

/// The oldest release weir accepts on each release line it names; every
/// release of a later line is accepted.
const MINIMA: [(u64, u64, u64); 2] = [(2, 12, 14), (2, 14, 4)];

/// [`MINIMA`] as an operator reads it.
pub const MINIMUM: &str = "2.12.14 on the 2.12 line, 2.14.4 from 2.14 on";

/// Refuses a server whose `version` (as its `INFO` says it) is older than
/// [`MINIMUM`], or cannot be read.
pub fn check(version: &str) -> Result<(), NatsError> {
    let accepted = parse(version).is_some_and(|found| {
        let on_a_fixed_line = MINIMA
            .iter()
            .any(|&minimum| found.0 == minimum.0 && found.1 == minimum.1 && found >= minimum);
        on_a_fixed_line || MINIMA.last().is_some_and(|&last| found >= last)
    });
    if !accepted {
        return Err(NatsError::ServerTooOld {
            found: version.to_owned(),
            minimum: MINIMUM,
        });
    }
    Ok(())
}

/// `major.minor.patch` of a version such as `2.12.14` or `2.14.4-RC.2`. A
/// release candidate counts as the release it leads to: the fixes are in
/// its candidates too.
fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let release = version.trim_start_matches('v').split(['-', '+']).next()?;
    let mut parts = release.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_releases_of_each_line_are_accepted_and_older_ones_named() {
        for accepted in [
            "2.12.14",
            "2.12.15",
            "2.14.4",
            "2.14.4-RC.1",
            "2.15.1",
            "v3.0.0",
        ] {
            assert!(check(accepted).is_ok(), "{accepted}");
        }
        let refused = [
            "2.12.13",
            "2.13.9",
            "2.14.3",
            "2.11.9",
            "2.10.22",
            "",
            "2.12",
            "two.twelve.zero",
        ];
        for refused in refused {
            let error = check(refused).expect_err(refused).to_string();
            assert!(
                error.contains(&format!("nats-server {refused} ")) && error.contains(MINIMUM),
                "{error}"
            );
        }
    }
}
