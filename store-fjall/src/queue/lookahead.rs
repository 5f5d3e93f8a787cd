//! The deliveries a lease's scan found ready past the one it took, kept per
//! lane, so that the next leases of the lane take them without a scan of
//! their own (each scan seeks through every memtable and segment).
//!
//! What is kept stays right: a ready delivery that no lease holds leaves its
//! lane only by being leased, and a plugin's lane is leased by one loop,
//! which takes what is kept in order. What it could miss is a delivery made
//! ready again between the cursor and what is kept (a retry come due, a
//! released hold, the next of an ordering key): a change that does that
//! forgets everything kept once it is written, before it wakes the lane
//! ([`super::Staging::commit`]). New events come after everything kept.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use super::Seq;

/// Most deliveries kept per lane.
pub const KEPT_PER_LANE: usize = 32;

/// What is kept, per lane (its key prefix in `ready_lanes`).
#[derive(Default)]
pub struct Lookahead {
    lanes: Mutex<HashMap<Vec<u8>, Ahead>>,
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
    /// The next delivery kept for `lane`, if a lease starting at `from`
    /// would find it first.
    pub fn take(&self, lane: &[u8], from: Seq) -> Option<Seq> {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        let ahead = lanes.get_mut(lane).filter(|ahead| ahead.from == from)?;
        let seq = ahead.seqs.pop_front()?;
        ahead.from = seq + 1;
        if ahead.seqs.is_empty() {
            lanes.remove(lane);
        }
        Some(seq)
    }

    /// Keeps `seqs` for `lane`, next for a lease starting at `from`, in
    /// place of what was kept.
    pub fn keep(&self, lane: Vec<u8>, from: Seq, seqs: VecDeque<Seq>) {
        let mut lanes = self.lanes.lock().unwrap_or_else(|p| p.into_inner());
        if seqs.is_empty() {
            lanes.remove(&lane);
        } else {
            lanes.insert(lane, Ahead { from, seqs });
        }
    }

    /// Forgets everything kept.
    pub fn forget(&self) {
        self.lanes.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_deliveries_go_in_order_to_a_lease_from_where_the_last_one_left() {
        let lookahead = Lookahead::default();
        lookahead.keep(b"a".to_vec(), 4, VecDeque::from([4, 7]));
        assert_eq!(
            lookahead.take(b"a", 3),
            None,
            "a lease from elsewhere scans"
        );
        assert_eq!(lookahead.take(b"b", 4), None, "another lane has none");
        assert_eq!(lookahead.take(b"a", 4), Some(4));
        assert_eq!(lookahead.take(b"a", 5), Some(7));
        assert_eq!(lookahead.take(b"a", 8), None, "all taken");

        lookahead.keep(b"a".to_vec(), 9, VecDeque::from([9]));
        lookahead.forget();
        assert_eq!(lookahead.take(b"a", 9), None);
    }
}
