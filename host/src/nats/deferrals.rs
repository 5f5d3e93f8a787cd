//! The breaker deferrals this node made, so that they do not spend attempts:
//! JetStream counts every hand-out of a message as a delivery, the one after
//! a `nak` for a breaker's cool-down included. Kept in memory per node: a
//! deferred delivery that another node picks up counts its deferrals there
//! as attempts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most deferred deliveries remembered; past it the stale ones are forgotten.
const MOST: usize = 100_000;
/// A deferral older than this is stale: its delivery went to another node.
const STALE: Duration = Duration::from_secs(600);

/// Deferrals by the stream sequence of the deferred delivery.
#[derive(Default)]
pub(super) struct Deferrals {
    counts: Mutex<HashMap<u64, (u32, Instant)>>,
}

impl Deferrals {
    /// How often the delivery at `sequence` was deferred here; forgets it.
    pub(super) fn take(&self, sequence: u64) -> u32 {
        self.lock().remove(&sequence).map_or(0, |(count, _)| count)
    }

    /// Remembers that the delivery at `sequence` was deferred `count` times.
    pub(super) fn set(&self, sequence: u64, count: u32) {
        let mut counts = self.lock();
        if counts.len() >= MOST {
            counts.retain(|_, (_, at)| at.elapsed() < STALE);
        }
        if counts.len() < MOST {
            counts.insert(sequence, (count, Instant::now()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (u32, Instant)>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deferral_is_counted_once() {
        let deferrals = Deferrals::default();
        deferrals.set(7, 2);
        assert_eq!(deferrals.take(7), 2);
        assert_eq!(deferrals.take(7), 0);
        assert_eq!(deferrals.take(8), 0);
    }

    #[test]
    fn no_more_than_the_most_are_kept() {
        let deferrals = Deferrals::default();
        for sequence in 0..=MOST as u64 {
            deferrals.set(sequence, 1);
        }
        assert_eq!(deferrals.lock().len(), MOST);
        assert_eq!(deferrals.take(MOST as u64), 0);
    }
}
