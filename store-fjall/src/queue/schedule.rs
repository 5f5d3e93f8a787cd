//! Scheduled retries: deliveries waiting in `scheduled` until their due time.
//!
//! Promoted retries leave tombstones at the front of the keyspace, and an
//! ordered scan from its start walks every one of them until they are
//! compacted away. So the queue keeps a floor, the earliest due time a key can
//! have, and scans from there: each promotion raises it past what it removed,
//! each newly scheduled retry lowers it to its own due time. Both happen under
//! the queue's write lock, so neither can undo the other.

use std::sync::atomic::Ordering;

use super::{Pending, Queue, QueueError, Seq, Staging, keys};

impl Queue {
    /// Moves up to `limit` deliveries due at or before `now_ms` back to ready.
    pub fn promote_due(&self, now_ms: u64, limit: usize) -> Result<Vec<Pending>, QueueError> {
        let mut staging = self.stage();
        let floor = self.due_floor();
        let mut taken = 0;
        let mut last_due = floor;
        for guard in self
            .scheduled
            .range(floor.to_be_bytes()..(now_ms + 1).to_be_bytes())
            .take(limit)
        {
            taken += 1;
            let key = guard.key()?;
            let Some((due, plugin, seq)) = keys::split_scheduled(&key) else {
                continue;
            };
            last_due = due;
            let Some(record) = self.delivery(seq, plugin)? else {
                continue;
            };
            staging.batch().remove(&self.scheduled, key.to_vec());
            staging.make_ready(seq, record)?;
        }
        // A full batch may have left more retries due at `last_due`.
        staging.raise_due_floor(if taken == limit { last_due } else { now_ms + 1 });
        Ok(staging.commit()?.readied)
    }

    /// When the earliest scheduled retry is due (ms since the Unix epoch).
    pub fn next_due_ms(&self) -> Result<Option<u64>, QueueError> {
        match self
            .scheduled
            .range(self.due_floor().to_be_bytes()..)
            .next()
        {
            Some(guard) => Ok(keys::read_seq(&guard.key()?)),
            None => Ok(None),
        }
    }

    fn due_floor(&self) -> u64 {
        self.due_floor.load(Ordering::Acquire)
    }

    /// Sets the floor once a staging that moves it has committed, while it
    /// still holds the write lock.
    pub(super) fn move_due_floor(&self, raised_to: Option<u64>, lowered_to: Option<u64>) {
        if let Some(floor) = raised_to {
            self.due_floor.store(floor, Ordering::Release);
        }
        if let Some(due) = lowered_to {
            self.due_floor.fetch_min(due, Ordering::AcqRel);
        }
    }
}

impl Staging<'_> {
    /// Schedules delivery `seq` of `plugin` to be ready again at `due_ms`.
    pub fn schedule(&mut self, due_ms: u64, plugin: &str, seq: Seq) {
        let scheduled = &self.queue().scheduled;
        self.batch()
            .insert(scheduled, keys::scheduled(due_ms, plugin, seq), []);
        self.earliest_scheduled = Some(self.earliest_scheduled.map_or(due_ms, |d| d.min(due_ms)));
    }

    /// Raises the due floor to `floor` on commit: nothing before it is left.
    fn raise_due_floor(&mut self, floor: u64) {
        self.due_floor_raised = Some(floor);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Durability, Target};
    use super::*;
    use weir_event::Event;

    /// Stores one event with a delivery to `p` and schedules it at each due time.
    fn schedule_at(queue: &Queue, dues: &[u64]) -> Vec<Seq> {
        let mut staging = queue.stage();
        let target = Target {
            plugin: "p".into(),
            ordered: false,
        };
        let seqs = dues
            .iter()
            .map(|&due| {
                let event = Event::new(format!("e{due}"), "s".into(), "t".into(), "acme".into());
                let seq = staging
                    .add_event(&event, std::slice::from_ref(&target))
                    .expect("add");
                staging.schedule(due, "p", seq);
                seq
            })
            .collect();
        staging.commit().expect("commit");
        seqs
    }

    fn promoted(queue: &Queue, now_ms: u64, limit: usize) -> Vec<Seq> {
        let promoted = queue.promote_due(now_ms, limit).expect("promote");
        promoted.into_iter().map(|pending| pending.seq).collect()
    }

    #[test]
    fn a_retry_due_before_the_last_promotion_is_still_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let queue = Queue::open(dir.path(), Durability::Buffered).expect("open");
        let seqs = schedule_at(&queue, &[100, 200]);

        assert_eq!(promoted(&queue, 150, 10), [seqs[0]]);
        assert_eq!(queue.next_due_ms().expect("next"), Some(200));

        // A writer whose clock is behind the promoter's schedules before the floor.
        let late = schedule_at(&queue, &[50]);
        assert_eq!(queue.next_due_ms().expect("next"), Some(50));
        assert_eq!(promoted(&queue, 150, 10), late);
        assert_eq!(promoted(&queue, 250, 10), [seqs[1]]);
        assert_eq!(queue.next_due_ms().expect("next"), None);
    }

    #[test]
    fn a_full_batch_leaves_the_rest_of_its_due_time_for_the_next() {
        let dir = tempfile::tempdir().expect("temp dir");
        let queue = Queue::open(dir.path(), Durability::Buffered).expect("open");
        let seqs = schedule_at(&queue, &[300, 300, 300]);

        assert_eq!(promoted(&queue, 400, 2), seqs[..2]);
        assert_eq!(queue.next_due_ms().expect("next"), Some(300));
        assert_eq!(promoted(&queue, 400, 2), seqs[2..]);
    }
}
