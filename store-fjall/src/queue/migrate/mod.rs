//! Moving data written by earlier versions of weir into today's layout, at
//! start-up, before anything reads it.

mod commit_records;
mod identities;
mod ready;

use fjall::{Keyspace, OwnedWriteBatch};

use super::{Queue, QueueError};

/// Records moved per write batch: each batch is atomic, so a crash midway
/// leaves every record in exactly one of the old and new keyspaces.
const BATCH: usize = 10_000;

impl Queue {
    /// Moves every record of keyspace `legacy` with `convert`, in atomic
    /// batches, then drops it. Returns how many moved.
    fn migrate_keyspace(
        &self,
        legacy: &str,
        convert: impl Fn(&mut OwnedWriteBatch, &[u8], &[u8]) -> Result<(), QueueError>,
    ) -> Result<u64, QueueError> {
        let db = &self.db;
        if !db.keyspace_exists(legacy) {
            return Ok(0);
        }
        let legacy: Keyspace = db.keyspace(legacy, Default::default)?;
        let mut moved = 0;
        loop {
            let mut batch = db.batch();
            let mut in_batch = 0;
            for guard in legacy.iter().take(BATCH) {
                let (key, value) = guard.into_inner()?;
                convert(&mut batch, &key, &value)?;
                batch.remove(&legacy, key);
                in_batch += 1;
            }
            if in_batch == 0 {
                break;
            }
            batch.commit()?;
            moved += in_batch;
        }
        self.sync()?;
        db.delete_keyspace(legacy)?;
        Ok(moved)
    }
}
