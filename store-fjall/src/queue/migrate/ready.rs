//! The ready index of versions before lanes, moved into `ready_lanes`.

use crate::queue::{Queue, QueueError, keys};

/// The ready index of versions before lanes: plugin ‖ 0x00 ‖ seq.
const LEGACY_READY: &str = "ready";

impl Queue {
    /// Moves the ready deliveries of a pre-lanes database into their lanes,
    /// then drops the old index. Returns how many moved.
    pub(crate) fn migrate_legacy_ready(&self) -> Result<u64, QueueError> {
        let moved = self.migrate_keyspace(LEGACY_READY, |batch, key, since| {
            let (plugin, seq) = keys::split_plugin_seq(key)
                .ok_or_else(|| QueueError::Corrupt("malformed legacy ready key".into()))?;
            let lane = self.lane_of(seq)?;
            batch.insert(&self.ready, keys::ready(plugin, &lane, seq), since);
            Ok(())
        })?;
        if moved > 0 {
            tracing::info!(moved, "moved ready deliveries into per-lane order");
        }
        Ok(moved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Durability, Lane, Target};
    use weir_event::{Event, Priority};

    #[test]
    fn ready_deliveries_of_an_earlier_version_move_into_their_lanes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lane = Lane {
            priority: Priority::High,
            tenant: "acme".into(),
        };
        {
            let queue = Queue::open(dir.path(), Durability::Fsync).expect("open");
            let mut staging = queue.stage();
            for id in ["e1", "e2"] {
                let mut event = Event::new(id.into(), "s".into(), "t".into(), "acme".into());
                event.priority = Priority::High;
                let target = Target {
                    plugin: "p".into(),
                    ordered: true,
                };
                staging.add_event(&event, &[target]).expect("stage");
            }
            staging.commit().expect("commit");
            // Rewrite the index the way earlier versions kept it.
            let legacy = queue
                .db
                .keyspace(LEGACY_READY, Default::default)
                .expect("legacy");
            for seq in [1, 2] {
                let key = keys::ready("p", &lane, seq);
                let since = queue.ready.get(&key).expect("read").expect("indexed");
                legacy
                    .insert(keys::plugin_seq("p", seq), since)
                    .expect("insert");
                queue.ready.remove(key).expect("remove");
            }
            queue.sync().expect("sync");
        }
        let queue = Queue::open(dir.path(), Durability::Fsync).expect("reopen");
        assert!(!queue.db.keyspace_exists(LEGACY_READY));
        assert_eq!(queue.ready_lanes("p").expect("lanes"), vec![lane.clone()]);
        let first = queue.lease_next("p", &lane, 0, 1000).expect("lease");
        assert_eq!(first.map(|leased| leased.seq), Some(1));
        let second = queue.lease_next("p", &lane, 2, 1000).expect("lease");
        assert_eq!(second.map(|leased| leased.seq), Some(2));
    }
}
