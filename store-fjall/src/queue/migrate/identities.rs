//! Event identities of versions that keyed them by the event id alone
//! (`event_ids`), moved to `event_keys` (tenant, source and id).

use crate::queue::{Queue, QueueError, Seq, keys};

/// Event id → seq.
const LEGACY_EVENT_IDS: &str = "event_ids";

impl Queue {
    /// Moves the legacy keyspace, if present, then drops it.
    pub(crate) fn migrate_legacy_identities(&self) -> Result<(), QueueError> {
        let ids = self.migrate_keyspace(LEGACY_EVENT_IDS, |batch, key, value| {
            let seq = read_seq(value)?;
            let Some(event) = self.event(seq)? else {
                return Ok(());
            };
            let id = std::str::from_utf8(key).map_err(|_| corrupt())?;
            let new_key = keys::event_key(id, &event.tenant, &event.source);
            batch.insert(&self.event_keys, new_key, keys::seq(seq));
            Ok(())
        })?;
        if ids > 0 {
            tracing::info!(ids, "keyed event identities by tenant and source");
        }
        Ok(())
    }
}

fn read_seq(value: &[u8]) -> Result<Seq, QueueError> {
    keys::read_seq(value).ok_or_else(corrupt)
}

fn corrupt() -> QueueError {
    QueueError::Corrupt("malformed record in a keyspace of an earlier version".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Durability, Target};
    use weir_event::Event;

    #[test]
    fn identities_of_an_earlier_version_are_rekeyed() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let queue = Queue::open(dir.path(), Durability::Fsync).expect("open");
            let mut staging = queue.stage();
            let event = Event::new("e1".into(), "s".into(), "t".into(), "acme".into());
            let target = Target {
                plugin: "p".into(),
                ordered: true,
            };
            staging.add_event(&event, &[target]).expect("stage");
            staging.commit().expect("commit");
            // Keep its identity the way earlier versions did.
            queue
                .event_keys
                .remove(keys::event_key("e1", "acme", "s"))
                .expect("remove");
            let ids = queue
                .db
                .keyspace(LEGACY_EVENT_IDS, Default::default)
                .expect("ids");
            ids.insert("e1", keys::seq(1)).expect("insert");
            queue.sync().expect("sync");
        }
        let queue = Queue::open(dir.path(), Durability::Fsync).expect("reopen");
        assert!(!queue.db.keyspace_exists(LEGACY_EVENT_IDS));
        assert_eq!(queue.seq_of("e1", "acme", "s").expect("read"), Some(1));
    }
}
