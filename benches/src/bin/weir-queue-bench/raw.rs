//! The ceiling: fjall alone, configured as weir configures it, one writer
//! committing a batch and then fsyncing, as a group commit does.

use std::path::Path;
use std::time::{Duration, Instant};

use fjall::{Database, KeyspaceCreateOptions, PersistMode};

use weir_bench::queue_setup as setup;

use crate::Measured;

/// Writes `events` records (rounded up to whole batches) in batches of `batch`.
pub fn scenario(
    base: &Path,
    batch: usize,
    events: u64,
    payload: &[u8],
    cap: Duration,
) -> anyhow::Result<Measured> {
    let dir = setup::scratch_dir(base, "raw")?;
    // As `weir::queue::Queue::open` does: the caller decides when to fsync.
    let db = Database::builder(dir.path())
        .manual_journal_persist(true)
        .open()?;
    let keyspace = db.keyspace("events", KeyspaceCreateOptions::default)?;
    let batch = batch as u64;
    let started = Instant::now();
    let deadline = started + cap;
    let mut written = 0u64;
    let mut capped = false;
    while written < events {
        if Instant::now() >= deadline {
            capped = true;
            break;
        }
        let mut writes = db.batch();
        for counter in written..written + batch {
            writes.insert(&keyspace, counter.to_be_bytes(), payload);
        }
        writes.commit()?;
        db.persist(PersistMode::SyncData)?;
        written += batch;
    }
    Ok(Measured {
        count: written,
        seconds: started.elapsed().as_secs_f64(),
        capped,
    })
}
