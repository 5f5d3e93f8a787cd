//! Telling a full disk from other write failures, so that ingest answers
//! `507` (free some space) rather than `503` (try again). fjall reports ENOSPC
//! where it met it: in a write, as an I/O error somewhere in the chain of
//! causes; in a background flush, only by poisoning the database, so that the
//! next write fails with `Poisoned` and no cause. Then the free space left
//! on the data directory's filesystem tells.

use std::io::ErrorKind;

use super::{Queue, QueueError};

/// Below this much free space, a poisoned database is put down to a full
/// disk: a flush writes up to a memtable (8 MiB) per keyspace, and a failed
/// one leaves less than that free; an unrelated I/O error on a disk this
/// close to full is worth a 507 too.
const NEARLY_FULL_BYTES: u64 = 64 << 20;

impl Queue {
    /// Whether `error` means the disk is full.
    pub fn failed_for_space(&self, error: &QueueError) -> bool {
        if caused_by_full_disk(error) {
            return true;
        }
        matches!(error, QueueError::Storage(fjall::Error::Poisoned))
            && self
                .free_bytes()
                .is_some_and(|free| free < NEARLY_FULL_BYTES)
    }

    /// The space left for weir on the filesystem of the data directory.
    fn free_bytes(&self) -> Option<u64> {
        let stats = rustix::fs::statvfs(&self.dir).ok()?;
        Some(stats.f_bavail.saturating_mul(stats.f_frsize))
    }
}

/// Whether an ENOSPC (or a quota) is among the causes of `error`.
fn caused_by_full_disk(error: &QueueError) -> bool {
    if matches!(error, QueueError::DiskFull) {
        return true;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded)
        {
            return true;
        }
        cause = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_enospc_anywhere_in_the_causes_is_a_full_disk() {
        let journal = fjall::Error::Io(std::io::Error::from(ErrorKind::StorageFull));
        assert!(caused_by_full_disk(&QueueError::Storage(journal)));
        let tree = fjall::Error::Storage(lsm_tree_io(ErrorKind::StorageFull));
        assert!(caused_by_full_disk(&QueueError::Storage(tree)));
        assert!(caused_by_full_disk(&QueueError::DiskFull));
    }

    #[test]
    fn other_failures_are_not_a_full_disk() {
        let io = fjall::Error::Io(std::io::Error::other("injected"));
        assert!(!caused_by_full_disk(&QueueError::Storage(io)));
        assert!(!caused_by_full_disk(&QueueError::Storage(
            fjall::Error::Poisoned
        )));
        assert!(!caused_by_full_disk(&QueueError::Closed));
    }

    fn lsm_tree_io(kind: ErrorKind) -> fjall::LsmError {
        std::io::Error::from(kind).into()
    }
}
