//! How far each lane has leased: what makes an attempt count without a
//! write per delivery.
//!
//! A lease is held in memory only (`holders`), and its delivery stays in
//! the ready index. What reaches the disk before an attempt runs is its
//! lane's mark: the furthest delivery of the lane leased so far, one key
//! per lane, written with the round of leases that moved it (and only if
//! it moved), and handed to the operating system before the round runs.
//!
//! After a crash, every delivery still ready at or below its lane's mark
//! may have been running: start-up counts one attempt for each
//! (`Queue::recover_leases`). So a delivery that crashes weir every time
//! still reaches its dead letter. A delivery made ready below the mark
//! since weir started (a retry come due, a released hold or deferral, the
//! next of an ordering key, a revived dead letter, a replay) and not leased
//! since is counted too: a crash costs it one attempt it did not run.

use std::collections::HashMap;
use std::sync::Mutex;

use fjall::{Database, Keyspace, PersistMode};

use super::{QueueError, Seq, keys};

/// The marks, on disk and as last written.
pub struct LeaseMarks {
    keyspace: Keyspace,
    /// The mark last written for each lane (its key in `lease_marks`).
    /// Held while a round's marks are written, so a round cannot put back
    /// a lower mark than one a concurrent round wrote.
    written: Mutex<HashMap<Vec<u8>, Seq>>,
}

impl LeaseMarks {
    /// The marks in `keyspace`, none of them written by this process yet.
    pub fn new(keyspace: Keyspace) -> LeaseMarks {
        LeaseMarks {
            keyspace,
            written: Mutex::default(),
        }
    }

    /// The keyspace, for start-up's count and its removal of the marks.
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// Writes the marks of `round` that move a lane further than written
    /// before, and hands them to the operating system; writes nothing if
    /// none does.
    pub fn advance(&self, db: &Database, round: &HashMap<Vec<u8>, Seq>) -> Result<(), QueueError> {
        let mut written = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let moved: Vec<(&Vec<u8>, Seq)> = round
            .iter()
            .filter(|(lane, seq)| written.get(*lane).is_none_or(|mark| mark < *seq))
            .map(|(lane, seq)| (lane, *seq))
            .collect();
        if moved.is_empty() {
            return Ok(());
        }
        let mut batch = db.batch().durability(Some(PersistMode::Buffer));
        for (lane, seq) in &moved {
            batch.insert(&self.keyspace, lane.as_slice(), keys::seq(*seq));
        }
        batch.commit()?;
        for (lane, seq) in moved {
            written.insert(lane.clone(), seq);
        }
        Ok(())
    }

    /// Forgets the marks written: their keys are being removed.
    pub fn forget(&self) {
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}
