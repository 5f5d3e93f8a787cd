//! Event identities and commit records of versions that keyed them by the
//! event id alone (`event_ids`, `idempotency`), moved to `event_keys` (tenant,
//! source and id) and `committed` (by sequence number).

use crate::queue::{Queue, QueueError, Seq, keys};

/// Event id → seq.
const LEGACY_EVENT_IDS: &str = "event_ids";
/// plugin ‖ 0x00 ‖ event id [‖ 0x00 ‖ generation] → seq ‖ commit time (ms).
const LEGACY_IDEMPOTENCY: &str = "idempotency";

impl Queue {
    /// Moves both legacy keyspaces, if present, then drops them.
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
        let records = self.migrate_keyspace(LEGACY_IDEMPOTENCY, |batch, key, value| {
            let seq = read_seq(value)?;
            let plugin = keys::plugin_of(key).ok_or_else(corrupt)?;
            let Some(event) = self.event(seq)? else {
                return Ok(());
            };
            let rest = &key[plugin.len() + 1..];
            let generation = match rest.strip_prefix(event.id.as_bytes()) {
                Some([]) => 0,
                Some([0, generation @ ..]) => {
                    u32::from_be_bytes(generation.try_into().map_err(|_| corrupt())?)
                }
                _ => return Err(corrupt()),
            };
            let committed_at = value.get(8..).ok_or_else(corrupt)?;
            let new_key = keys::committed(plugin, seq, generation);
            batch.insert(&self.committed, new_key, committed_at);
            Ok(())
        })?;
        if ids + records > 0 {
            tracing::info!(ids, records, "keyed event identities by tenant and source");
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
    fn identities_and_commit_records_of_an_earlier_version_are_rekeyed() {
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
            // Rewrite both the way earlier versions kept them.
            queue
                .event_keys
                .remove(keys::event_key("e1", "acme", "s"))
                .expect("remove");
            let ids = queue
                .db
                .keyspace(LEGACY_EVENT_IDS, Default::default)
                .expect("ids");
            ids.insert("e1", keys::seq(1)).expect("insert");
            let records = queue
                .db
                .keyspace(LEGACY_IDEMPOTENCY, Default::default)
                .expect("records");
            let mut record = keys::seq(1).to_vec();
            record.extend_from_slice(&7u64.to_be_bytes());
            records.insert(b"p\0e1", &record).expect("insert");
            records
                .insert(b"p\0e1\0\0\0\0\x02", &record)
                .expect("insert");
            queue.sync().expect("sync");
        }
        let queue = Queue::open(dir.path(), Durability::Fsync).expect("reopen");
        assert!(!queue.db.keyspace_exists(LEGACY_EVENT_IDS));
        assert!(!queue.db.keyspace_exists(LEGACY_IDEMPOTENCY));
        assert_eq!(queue.seq_of("e1", "acme", "s").expect("read"), Some(1));
        assert!(queue.is_committed("p", 1, 0).expect("read"));
        assert!(!queue.is_committed("p", 1, 1).expect("read"));
        assert!(queue.is_committed("p", 1, 2).expect("read"));
    }
}
