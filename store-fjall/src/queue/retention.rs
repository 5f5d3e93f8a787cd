//! Retention: events whose deliveries are all finished are removed, with
//! their deliveries (whose done records are the idempotency records), once
//! older than the retention. Removal runs from the horizon (the oldest kept
//! event) upwards and stops at the first event that is too young, so the log
//! above the horizon stays a gapless range that start-up can check. An
//! expired event that still has work pending (held for a paused tenant,
//! waiting for a paused or removed plugin, retrying) does not stop it: it
//! stays where it is, below the horizon, and its sequence number goes to
//! `kept`, where a later sweep removes it once it is finished.

use super::event_log::{self, Group, LogRemovals};
use super::integrity::HORIZON;
use super::{DeliveryRecord, DeliveryState, Queue, QueueError, Seq, Staging, keys};
use crate::event::Event;

/// What one look through the kept events did.
#[derive(Debug, PartialEq, Eq)]
pub struct KeptSweep {
    /// Kept events removed, now that their deliveries are finished.
    pub removed: usize,
    /// Kept events looked at that are still pending.
    pub still_kept: usize,
    /// Where the next look starts; `None` once the last was looked at.
    pub next: Option<Seq>,
}

impl Queue {
    /// Moves the horizon past up to `limit` events ingested before
    /// `cutoff_ms`: each finished one is removed, each pending one kept
    /// below the horizon. Returns how many it passed. Dead letters go with
    /// their event.
    pub fn remove_expired(&self, cutoff_ms: u64, limit: usize) -> Result<usize, QueueError> {
        let mut staging = self.stage();
        let horizon = self.horizon()?;
        let mut removals = LogRemovals::default();
        let mut passed = 0;
        'groups: for guard in self.events.range(*event_log::span(horizon).start()..) {
            let (key, value) = guard.into_inner()?;
            let group = Group::read(&key, value)?;
            for member in group.members() {
                let (seq, member) = member?;
                // Below the horizon: a member kept by an earlier pass.
                if seq < horizon {
                    continue;
                }
                if passed == limit {
                    break 'groups;
                }
                let event = member.event()?;
                if event.ingested_at_ms >= cutoff_ms {
                    break 'groups;
                }
                let deliveries = self.deliveries_in(seq, Some(&member))?;
                if all_finished(&deliveries) {
                    removals.remove(&group, seq);
                    remove_event(&mut staging, seq, Some(&event), &deliveries);
                } else {
                    staging.batch().insert(&self.kept, keys::seq(seq), []);
                }
                passed += 1;
            }
        }
        if passed > 0 {
            removals.stage(&mut staging)?;
            let new_horizon = horizon + passed as u64;
            staging
                .batch()
                .insert(&self.meta, HORIZON, keys::seq(new_horizon));
            staging.commit()?;
        }
        Ok(passed)
    }

    /// Looks at up to `limit` events kept past the retention, from `from`
    /// on, and removes those whose deliveries have all finished since.
    pub fn remove_finished_kept(&self, from: Seq, limit: usize) -> Result<KeptSweep, QueueError> {
        // Read without the write lock, so a long list of kept events holds
        // up no ingest; each one found finished is read again under it.
        let mut looked = Vec::with_capacity(limit);
        for guard in self.kept.range(keys::seq(from)..).take(limit) {
            let key = guard.key()?;
            looked.push(
                keys::read_seq(&key)
                    .ok_or_else(|| QueueError::Corrupt("malformed kept key".into()))?,
            );
        }
        let next = (looked.len() == limit)
            .then(|| looked.last().map(|last| last + 1))
            .flatten();
        let looked_at = looked.len();
        let finished: Vec<Seq> = looked
            .into_iter()
            .filter(|&seq| self.deliveries_of_kept(seq).is_ok_and(|d| all_finished(&d)))
            .collect();
        let mut removed = 0;
        if !finished.is_empty() {
            let mut staging = self.stage();
            let mut removals = LogRemovals::default();
            for seq in finished {
                let deliveries = self.deliveries_of_kept(seq)?;
                // A dead letter revived meanwhile is pending again.
                if !all_finished(&deliveries) {
                    continue;
                }
                let event = removals.remove_seq(&self.events, seq)?;
                remove_event(&mut staging, seq, event.as_ref(), &deliveries);
                staging.batch().remove(&self.kept, keys::seq(seq));
                removed += 1;
            }
            removals.stage(&mut staging)?;
            staging.commit()?;
        }
        Ok(KeptSweep {
            removed,
            still_kept: looked_at - removed,
            next,
        })
    }

    /// Every delivery of kept event `seq`, its group read past the cache:
    /// kept events are old, and their groups would push out those the
    /// leases read.
    fn deliveries_of_kept(&self, seq: Seq) -> Result<Vec<DeliveryRecord>, QueueError> {
        let group = event_log::group_of(self.events.range(event_log::span(seq)))?;
        let member = group.as_ref().map(|group| group.member(seq)).transpose()?;
        self.deliveries_in(seq, member.flatten().as_ref())
    }
}

/// Whether every one of an event's deliveries has ended.
fn all_finished(deliveries: &[DeliveryRecord]) -> bool {
    deliveries.iter().all(|d| {
        matches!(
            d.state,
            DeliveryState::Done | DeliveryState::Dead | DeliveryState::Discarded
        )
    })
}

/// Stages the removal of event `seq`'s identity (if the event is there to
/// name it), its deliveries and their dead letters;
/// the event itself leaves its group through [`LogRemovals`].
fn remove_event(
    staging: &mut Staging<'_>,
    seq: Seq,
    event: Option<&Event>,
    deliveries: &[DeliveryRecord],
) {
    let queue = staging.queue();
    let batch = staging.batch();
    if let Some(event) = event {
        batch.remove(
            &queue.event_keys,
            keys::event_key(&event.id, &event.tenant, &event.source),
        );
    }
    for delivery in deliveries {
        batch.remove(&queue.deliveries, keys::delivery(seq, &delivery.plugin));
        if delivery.state == DeliveryState::Dead {
            batch.remove(&queue.dead, keys::plugin_seq(&delivery.plugin, seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use weir_event::Event;

    use super::super::{DeliveryRecord, DeliveryState, Durability, Queue, Target, scratch};

    fn add(queue: &Queue, id: &str) -> u64 {
        let event = Event::new(id.into(), "s".into(), "t".into(), "acme".into());
        let mut staging = queue.stage();
        let seq = staging.add_event(&event, &[]).expect("add");
        staging.commit().expect("commit");
        seq
    }

    /// Stores events e1 to e5 in one batch, so in one group; e2 and e4 with
    /// a delivery to plugin `p` still pending.
    fn add_group(queue: &Queue) {
        let mut staging = queue.stage();
        for i in 1..=5 {
            let event = Event::new(format!("e{i}"), "s".into(), "t".into(), "acme".into());
            let pending = [Target {
                plugin: "p".into(),
                ordered: false,
            }];
            let targets: &[Target] = if i % 2 == 0 { &pending } else { &[] };
            staging.add_event(&event, targets).expect("add");
        }
        staging.commit().expect("commit");
    }

    fn stored_ids(queue: &Queue) -> Vec<String> {
        (1..=5)
            .filter_map(|seq| queue.event(seq).expect("read"))
            .map(|event| event.id)
            .collect()
    }

    #[test]
    fn retention_passes_part_of_a_group_and_keeps_the_pending_members_of_it() {
        let (_dir, queue) = scratch();
        add_group(&queue);

        assert_eq!(queue.remove_expired(u64::MAX, 2).expect("remove"), 2);
        assert_eq!(stored_ids(&queue), ["e2", "e3", "e4", "e5"]);
        assert_eq!(queue.check_sequence().expect("check"), 3);

        assert_eq!(queue.remove_expired(u64::MAX, 10).expect("remove"), 3);
        assert_eq!(
            stored_ids(&queue),
            ["e2", "e4"],
            "kept for their deliveries"
        );
        assert_eq!(queue.check_sequence().expect("check"), 0);
        assert_eq!(queue.last_seq().expect("last"), 4);

        let mut staging = queue.stage();
        let mut done = DeliveryRecord::ready("p");
        done.state = DeliveryState::Done;
        staging.put_record(4, &done);
        staging.commit().expect("commit");
        let sweep = queue.remove_finished_kept(0, 10).expect("sweep");
        assert_eq!((sweep.removed, sweep.still_kept), (1, 1));
        assert_eq!(stored_ids(&queue), ["e2"]);
    }

    #[test]
    fn retention_leaves_the_groups_it_reads_out_of_the_cache() {
        let (_dir, queue) = scratch();
        let mut staging = queue.stage();
        for i in 1..=3 {
            let event = Event::new(format!("e{i}"), "s".into(), "t".into(), "acme".into());
            let pending = Target {
                plugin: "p".into(),
                ordered: false,
            };
            staging.add_event(&event, &[pending]).expect("add");
        }
        staging.commit().expect("commit");

        // Every member is pending: the pass keeps them all, and writes no
        // group again (which would forget the cache anyway).
        assert_eq!(queue.remove_expired(u64::MAX, 10).expect("remove"), 3);
        let cached = || queue.recent_groups.spanning(1).is_some();
        assert!(
            !cached(),
            "an old group in the cache pushes out one the leases read"
        );
        // Nor does a sweep of the kept ones, still pending, that removes none.
        let sweep = queue.remove_finished_kept(0, 10).expect("sweep");
        assert_eq!((sweep.removed, sweep.still_kept), (0, 3));
        assert!(!cached());
    }

    #[test]
    fn a_queue_reopened_after_retention_removed_every_event_numbers_on_from_the_horizon() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let queue = Queue::open(dir.path(), Durability::Buffered).expect("open");
            for id in ["e1", "e2", "e3"] {
                add(&queue, id);
            }
            assert_eq!(queue.remove_expired(u64::MAX, 10).expect("remove"), 3);
            queue.sync().expect("sync");
        }
        let queue = Queue::open(dir.path(), Durability::Buffered).expect("reopen");
        assert_eq!(add(&queue, "e4"), 4, "not a number given before");
        assert_eq!(queue.check_sequence().expect("check"), 1);
    }
}
