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
//! highest-numbered `N.jnl` in the database directory, and stays so while
//! no `N+1.jnl` exists; that is checked after the write, so the file synced
//! is the one the write went to, or fjall's own sync runs instead.
//!
//! The first sync of each journal file goes through fjall's own
//! `persist(SyncData)`, after this module opened its descriptor: so a
//! write-back error from before that descriptor existed (which only
//! fjall's would report) is not missed, and a file a failed rotation left
//! behind is never the only one synced (fjall poisons the database then).
//! Should the directory not list a journal (a fjall release that names them
//! otherwise, say), every sync goes through fjall; a unit test checks that
//! one is found.

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
        db.persist(PersistMode::Buffer)?;
        // Held through the fsync, so a sync that starts while another fails
        // sees the failure rather than a descriptor opened after it.
        let mut active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        if self.failed.load(Ordering::Relaxed) {
            return Err(fsync_failed_before());
        }
        // fjall starts journal N + 1 after N, so while there is none the
        // one open is still the active one: one `stat`, not a listing.
        let still_active = |number: u64| {
            let next = self.dir.join(format!("{}.jnl", number + 1));
            matches!(next.try_exists(), Ok(false))
        };
        match active.as_ref() {
            Some((open, file)) if still_active(*open) => {
                if let Err(error) = file.sync_data() {
                    self.failed.store(true, Ordering::Relaxed);
                    *active = None;
                    return Err(fjall::Error::Io(error).into());
                }
                Ok(())
            }
            _ => {
                *active = None;
                // A listing that fails loses nothing: fjall syncs instead.
                let newest = newest_journal(&self.dir).ok().flatten();
                let opened =
                    newest.and_then(|(number, path)| Some((number, File::open(path).ok()?)));
                // fjall poisons the database if this fails.
                db.persist(PersistMode::SyncData)?;
                *active = opened;
                Ok(())
            }
        }
    }

    /// The number of the journal file the next sync goes through, if one.
    #[cfg(test)]
    fn active_number(&self) -> Option<u64> {
        let active = self.active.lock().unwrap_or_else(|p| p.into_inner());
        active.as_ref().map(|(number, _)| *number)
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
    fn the_active_journal_is_found_and_synced_through_its_own_descriptor() {
        let (dir, queue) = crate::queue::scratch();
        assert_eq!(queue.journal.active_number(), None);
        queue.sync().expect("the first sync, through fjall");
        assert_eq!(
            queue.journal.active_number(),
            Some(0),
            "fjall's first journal, 0.jnl"
        );
        assert!(dir.path().join("0.jnl").exists());
        queue.sync().expect("a sync through the descriptor");
        assert_eq!(queue.journal.active_number(), Some(0));
    }

    #[test]
    fn a_next_journal_file_moves_the_sync_to_it_through_fjall() {
        let (dir, queue) = crate::queue::scratch();
        queue.sync().expect("sync");
        assert_eq!(queue.journal.active_number(), Some(0));
        // What a rotation leaves: journal 1 next to journal 0.
        std::fs::write(dir.path().join("1.jnl"), b"").expect("write");
        queue.sync().expect("sync");
        assert_eq!(queue.journal.active_number(), Some(1));
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
