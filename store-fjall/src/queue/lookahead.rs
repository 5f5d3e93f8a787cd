//! The deliveries a lease's scan found ready past the one it took, kept per
//! lane, so that the next leases of the lane take them without a scan of
//! their own (each scan seeks through every memtable and segment).
//!
//! What is kept stays right: a ready delivery that no lease holds leaves its
//! lane only by being leased, and a plugin's lane is leased by one loop,
//! which takes what is kept in order. What it could miss is a delivery made
//! ready again between the cursor and what is kept (a retry come due, a
//! released hold, the next of an ordering key, a revive or a replay): a
//! change that does that forgets everything kept once it is written, before
//! it wakes the lane ([`super::Staging::commit`]), and a scan whose snapshot
//! may predate that change keeps nothing ([`Lookahead::keep`]). New events
//! come after everything kept.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::Seq;

/// Most deliveries kept per lane.
pub const KEPT_PER_LANE: usize = 32;

/// What is kept, per lane (its key prefix in `ready_lanes`).
#[derive(Default)]
pub struct Lookahead {
    lanes: Mutex<Lanes>,
}

/// What is kept, and how many times it was all forgotten.
#[derive(Default)]
struct Lanes {
    kept: HashMap<Vec<u8>, Ahead>,
    forgotten: u64,
}

/// The deliveries kept for one lane.
struct Ahead {
    /// Where the lane's cursor is when the first of `seqs` is next: kept
    /// deliveries are taken only by a lease that starts there.
    from: Seq,
    /// Ready, not leased, in seq order, with nothing ready between them.
    seqs: VecDeque<Seq>,
}

impl Lookahead {
    /// How many times everything kept was forgotten: read before a scan's
    /// snapshot, and shown to [`Lookahead::keep`].
    pub fn forgotten(&self) -> u64 {
        self.lock().forgotten
    }

    /// The next delivery kept for `lane`, if a lease starting at `from`
    /// would find it first. A lease from elsewhere forgets what the lane
    /// kept: its scan may lease some of it.
    pub fn take(&self, lane: &[u8], from: Seq) -> Option<Seq> {
        let mut lanes = self.lock();
        let ahead = lanes.kept.get_mut(lane)?;
        if ahead.from != from {
            lanes.kept.remove(lane);
            return None;
        }
        let seq = ahead.seqs.pop_front()?;
        ahead.from = seq + 1;
        if ahead.seqs.is_empty() {
            lanes.kept.remove(lane);
        }
        Some(seq)
    }

    /// Keeps `seqs` for `lane`, next for a lease starting at `from`, in
    /// place of what was kept; keeps nothing if everything was forgotten
    /// since `forgotten` was read: the scan that found them may have missed
    /// a delivery made ready before them.
    pub fn keep(&self, lane: Vec<u8>, from: Seq, seqs: VecDeque<Seq>, forgotten: u64) {
        let mut lanes = self.lock();
        if seqs.is_empty() || lanes.forgotten != forgotten {
            lanes.kept.remove(&lane);
        } else {
            lanes.kept.insert(lane, Ahead { from, seqs });
        }
    }

    /// Forgets everything kept.
    pub fn forget(&self) {
        let mut lanes = self.lock();
        lanes.kept.clear();
        lanes.forgotten += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lanes> {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_deliveries_go_in_order_to_a_lease_from_where_the_last_one_left() {
        let lookahead = Lookahead::default();
        lookahead.keep(b"a".to_vec(), 4, VecDeque::from([4, 7]), 0);
        assert_eq!(lookahead.take(b"b", 4), None, "another lane has none");
        assert_eq!(lookahead.take(b"a", 4), Some(4));
        assert_eq!(lookahead.take(b"a", 5), Some(7));
        assert_eq!(lookahead.take(b"a", 8), None, "all taken");

        lookahead.keep(b"a".to_vec(), 4, VecDeque::from([4, 7]), 0);
        let elsewhere = lookahead.take(b"a", 3);
        assert_eq!(elsewhere, None, "a lease from elsewhere scans");
        assert_eq!(lookahead.take(b"a", 4), None, "and its scan may take them");

        lookahead.keep(b"a".to_vec(), 9, VecDeque::from([9]), 0);
        lookahead.forget();
        assert_eq!(lookahead.take(b"a", 9), None);
    }

    #[test]
    fn a_scan_that_began_before_everything_was_forgotten_keeps_nothing() {
        let lookahead = Lookahead::default();
        let seen = lookahead.forgotten();
        lookahead.forget();
        lookahead.keep(b"a".to_vec(), 4, VecDeque::from([4]), seen);
        assert_eq!(lookahead.take(b"a", 4), None);
        lookahead.keep(b"a".to_vec(), 4, VecDeque::from([4]), lookahead.forgotten());
        assert_eq!(lookahead.take(b"a", 4), Some(4));
    }
}
