//! The commit records of earlier layouts (`idempotency`, keyed by event id,
//! then `committed`, keyed by sequence number), dropped. Each was written in
//! the batch that wrote its delivery's done record, which is the idempotency
//! record now: nothing in them is not also there.

use crate::queue::{Queue, QueueError};

/// The keyspaces that held them, oldest first.
const LEGACY_COMMIT_RECORDS: [&str; 2] = ["idempotency", "committed"];

impl Queue {
    /// Drops the keyspaces of earlier layouts' commit records, if present.
    pub(crate) fn drop_commit_records(&self) -> Result<(), QueueError> {
        for name in LEGACY_COMMIT_RECORDS {
            if self.db.keyspace_exists(name) {
                let keyspace = self.db.keyspace(name, Default::default)?;
                self.db.delete_keyspace(keyspace)?;
                tracing::info!(
                    keyspace = name,
                    "dropped the commit records of an earlier layout: each delivery's done record is its idempotency record"
                );
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{DeliveryState, Durability, Lane, Target, keys};
    use weir_event::Event;

    #[test]
    fn commit_records_of_earlier_layouts_are_dropped_and_a_done_delivery_stays_done() {
        let dir = tempfile::tempdir().expect("temp dir");
        let event = Event::new("e1".into(), "s".into(), "t".into(), "acme".into());
        let lane = Lane::of(&event);
        {
            let queue = Queue::open(dir.path(), Durability::Fsync).expect("open");
            let mut staging = queue.stage();
            let target = Target {
                plugin: "p".into(),
                ordered: false,
            };
            let seq = staging.add_event(&event, &[target]).expect("stage");
            staging.commit().expect("commit");
            let mut leased = (queue.lease_next("p", &lane, 0, 60_000))
                .expect("lease")
                .expect("ready");
            leased.record.state = DeliveryState::Done;
            let mut staging = queue.stage();
            assert!(staging.release(&leased, &event).expect("release"));
            staging.commit().expect("commit");
            // Its commit record, as each earlier layout kept it.
            let mut record = keys::seq(seq).to_vec();
            record.extend_from_slice(&7u64.to_be_bytes());
            let legacy = |name: &str| queue.db.keyspace(name, Default::default).expect(name);
            (legacy("idempotency").insert(b"p\0e1", &record)).expect("insert");
            let mut committed = keys::plugin_seq("p", seq);
            committed.extend_from_slice(&0u32.to_be_bytes());
            (legacy("committed").insert(committed, 7u64.to_be_bytes())).expect("insert");
            queue.sync().expect("sync");
        }
        let queue = Queue::open(dir.path(), Durability::Fsync).expect("reopen");
        for name in LEGACY_COMMIT_RECORDS {
            assert!(!queue.db.keyspace_exists(name), "{name} is left");
        }
        let record = queue.delivery(1, "p").expect("read").expect("record");
        assert_eq!(record.state, DeliveryState::Done);
        let again = queue.lease_next("p", &lane, 0, 60_000).expect("lease");
        assert!(again.is_none(), "a done delivery is not run again");
    }
}
