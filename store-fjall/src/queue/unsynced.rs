//! The ingest group written but not yet fsync'd: its events are visible to
//! readers from the write on, but no delivery of theirs is leased until the
//! fsync returned, so a plugin never acts on an event whose `202` was not
//! sent (and that a failed fsync may yet lose).
//!
//! One group is in flight at a time (the group committer writes, syncs,
//! then takes the next), so one range of sequence numbers says it all.
//! Events emitted meanwhile get later numbers and are not held back: they
//! are as durable as the commit that stored them. A lease that meets a
//! held-back delivery leaves its lane, which the group's wake-up after the
//! fsync enters again.

use std::ops::Range;
use std::sync::Mutex;

use super::Seq;

/// The sequence numbers of the group being synced (empty when none is).
#[derive(Default)]
pub struct Unsynced(Mutex<Range<Seq>>);

impl Unsynced {
    /// Holds back `seqs`, a group about to be written.
    pub fn hold(&self, seqs: Range<Seq>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = seqs;
    }

    /// Lets the group held back go: its fsync returned.
    pub fn release(&self) {
        let mut held = self.0.lock().unwrap_or_else(|p| p.into_inner());
        held.start = held.end;
    }

    /// Whether `seq` is in the group held back.
    pub fn holds(&self, seq: Seq) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&seq)
    }
}
