//! Syncing fjall's journal without holding its lock.
//!
//! `Database::persist(SyncData)` holds the journal writer's mutex through
//! the fsync, so every lease round and finishing round written meanwhile
//! (on a tokio worker) waits for the disk, and the HTTP side loses that
//! worker. Instead, the journal's buffer goes to the OS under the lock
//! (`PersistMode::Buffer`, one `write`), and the active journal file is
//! fsync'd through a descriptor of this module's own, outside it.
//!
//! That covers every batch written before the call: one in the active file
//! is synced here; one in an older file was synced by fjall when it sealed
//! that file (a journal rotation syncs it first). The active file is the
//! highest-numbered `N.jnl` in the database directory, listed after the
//! write, so it is the file the write went to or a newer one. Should a
//! fjall release name its journals otherwise, no file is found and the sync
//! falls back to `persist(SyncData)` (a unit test checks one is found).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use fjall::{Database, PersistMode};

use super::QueueError;

/// The journal file last synced, kept open until fjall starts another.
pub(super) struct JournalSync {
    dir: PathBuf,
    active: Mutex<Option<(u64, File)>>,
    /// Set by a failed fsync: the kernel may have dropped the pages it could
    /// not write, so no later fsync can vouch for them.
    failed: AtomicBool,
}

impl JournalSync {
    /// Syncs the journal of the database in `dir`.
    pub(super) fn new(dir: &Path) -> JournalSync {
        JournalSync {
            dir: dir.to_owned(),
            active: Mutex::new(None),
            failed: AtomicBool::new(false),
        }
    }

    /// Makes everything written to `db` so far durable.
    pub(super) fn sync(&self, db: &Database) -> Result<(), QueueError> {
        if self.failed.load(Ordering::Relaxed) {
            return Err(fsync_failed_before());
        }
        db.persist(PersistMode::Buffer)?;
        match self.sync_active() {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Ok(db.persist(PersistMode::SyncData)?),
            Err(error) => {
                self.failed.store(true, Ordering::Relaxed);
                Err(fjall::Error::Io(error).into())
            }
        }
    }

    /// Fsyncs the active journal file; returns its number, or `None` if the
    /// directory holds no journal file.
    fn sync_active(&self) -> io::Result<Option<u64>> {
        let Some((number, path)) = newest_journal(&self.dir)? else {
            return Ok(None);
        };
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        let file = match active.take() {
            Some((open, file)) if open == number => file,
            _ => File::open(&path)?,
        };
        file.sync_data()?;
        *active = Some((number, file));
        Ok(Some(number))
    }
}

/// The error of every sync after a failed one.
fn fsync_failed_before() -> QueueError {
    let error = io::Error::other("an earlier fsync of the journal failed");
    QueueError::Storage(fjall::Error::Io(error))
}

/// The highest-numbered `N.jnl` in `dir`, with its path.
fn newest_journal(dir: &Path) -> io::Result<Option<(u64, PathBuf)>> {
    let mut newest: Option<(u64, PathBuf)> = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(number) = (name.to_str())
            .and_then(|name| name.strip_suffix(".jnl"))
            .and_then(|number| number.parse::<u64>().ok())
        else {
            continue;
        };
        if newest.as_ref().is_none_or(|(found, _)| number > *found) {
            newest = Some((number, entry.path()));
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_journal_is_found_and_synced() {
        let (dir, queue) = crate::queue::scratch();
        queue.sync().expect("sync");
        let synced = queue.journal.sync_active().expect("sync the journal");
        assert_eq!(synced, Some(0), "fjall's first journal, 0.jnl");
        assert!(dir.path().join("0.jnl").exists());
    }

    #[test]
    fn the_newest_of_several_journals_is_the_active_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in ["0.jnl", "2.jnl", "10.jnl", "lock", "11.jnl.tmp", "x.jnl"] {
            std::fs::write(dir.path().join(name), b"").expect("write");
        }
        let (number, path) = newest_journal(dir.path())
            .expect("list")
            .expect("a journal");
        assert_eq!((number, path), (10, dir.path().join("10.jnl")));
        let empty = tempfile::tempdir().expect("temp dir");
        assert!(newest_journal(empty.path()).expect("list").is_none());
    }

    #[test]
    fn after_a_failed_fsync_every_sync_fails() {
        let (_dir, queue) = crate::queue::scratch();
        queue.journal.failed.store(true, Ordering::Relaxed);
        let error = queue.sync().expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("an earlier fsync of the journal failed"),
            "{error}"
        );
    }
}
