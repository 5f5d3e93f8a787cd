//! The storage layout a data directory is in, kept in `meta`. A build that
//! finds a layout newer than it knows refuses to open the directory, naming
//! both, rather than reading what it cannot understand as corrupt records
//! or numbering new events over a newer build's. Builds before the key was
//! written do not check it.

use fjall::Keyspace;

use super::QueueError;

/// `meta` key of the layout.
const LAYOUT: &[u8] = b"layout";

/// This build's layout: 3 keeps no commit records beside the done records
/// (`migrate/commit_records.rs`); 2 stores events in groups and writes no
/// record for a ready delivery; 1, unwritten, is every layout before.
pub(super) const CURRENT: u32 = 3;

/// Refuses a layout in `meta` newer than [`CURRENT`]; records this one
/// otherwise.
pub(super) fn check(meta: &Keyspace) -> Result<(), QueueError> {
    let stored = match meta.get(LAYOUT)? {
        Some(bytes) => {
            let bytes: [u8; 4] = (bytes.as_ref().try_into())
                .map_err(|_| QueueError::Corrupt("malformed storage layout".into()))?;
            u32::from_le_bytes(bytes)
        }
        None => 1,
    };
    if stored > CURRENT {
        return Err(QueueError::NewerLayout { found: stored });
    }
    if stored < CURRENT {
        meta.insert(LAYOUT, CURRENT.to_le_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Durability, Queue, keys};
    use super::*;

    #[test]
    fn a_directory_in_a_newer_layout_is_refused_naming_both() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let queue = Queue::open(dir.path(), Durability::Buffered).expect("open");
            let stored = queue.meta.get(LAYOUT).expect("read").expect("recorded");
            assert_eq!(stored.as_ref(), CURRENT.to_le_bytes());
            queue
                .meta
                .insert(LAYOUT, 7u32.to_le_bytes())
                .expect("write");
            // A log this build cannot read: the layout is named before it is read.
            let unreadable = ((1u32 << 30) | 1000).to_le_bytes();
            (queue.events.insert(keys::seq(1), unreadable)).expect("write");
            queue.sync().expect("sync");
        }
        let error = Queue::open(dir.path(), Durability::Buffered)
            .err()
            .expect("refused");
        let message = error.to_string();
        assert!(message.contains("storage layout 7"), "{message}");
        assert!(message.contains("up to 3"), "{message}");
    }
}
