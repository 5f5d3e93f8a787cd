//! Staging: what one batch stores, that a dropped one stores nothing, and how
//! an ordering key passes from one delivery to the next.

use weir_event::Event;

use super::{DeliveryState, Lane, Queue, Seq, Target, scratch};

fn target(plugin: &str, ordered: bool) -> Target {
    Target {
        plugin: plugin.into(),
        ordered,
    }
}

fn event(id: &str, partitionkey: Option<&str>) -> Event {
    let mut event = Event::new(id.into(), "s".into(), "t".into(), "acme".into());
    event.partitionkey = partitionkey.map(str::to_owned);
    event
}

fn add(queue: &Queue, event: &Event, targets: &[Target]) -> Seq {
    let mut staging = queue.stage();
    let seq = staging.add_event(event, targets).expect("add");
    staging.commit().expect("commit");
    seq
}

fn state(queue: &Queue, seq: Seq, plugin: &str) -> DeliveryState {
    queue
        .delivery(seq, plugin)
        .expect("read")
        .expect("a record")
        .state
}

#[test]
fn an_event_is_stored_with_one_ready_delivery_per_target() {
    let (_dir, queue) = scratch();
    let mut staging = queue.stage();
    let stored = event("e1", None);
    let seq = staging
        .add_event(&stored, &[target("a", false), target("b", false)])
        .expect("add");
    let staged = staging.commit().expect("commit");

    assert_eq!(queue.event(seq).expect("read").expect("stored").id, "e1");
    let plugins: Vec<_> = staged.added.iter().map(|p| p.plugin.as_str()).collect();
    assert_eq!(plugins, ["a", "b"]);
    assert!(staged.added.iter().all(|p| p.lane == Lane::of(&stored)));
    assert_eq!(state(&queue, seq, "a"), DeliveryState::Ready);
    assert_eq!(state(&queue, seq, "b"), DeliveryState::Ready);
    assert_eq!(queue.ready_lanes("a").expect("lanes"), [Lane::of(&stored)]);
}

#[test]
fn a_dropped_staging_stores_nothing_and_hands_out_no_sequence_number() {
    let (_dir, queue) = scratch();
    let mut dropped = queue.stage();
    let first = dropped
        .add_event(&event("gone", None), &[target("a", false)])
        .expect("add");
    drop(dropped);

    assert!(queue.event(first).expect("read").is_none());
    let seq = add(&queue, &event("kept", None), &[target("a", false)]);
    assert_eq!(seq, first, "the log has no gap where the dropped batch was");
    assert_eq!(queue.last_seq().expect("last"), seq);
}

#[test]
fn an_ordered_delivery_waits_behind_its_key_until_the_head_finishes() {
    let (_dir, queue) = scratch();
    let ordered = [target("a", true)];
    let head = add(&queue, &event("e1", Some("k")), &ordered);
    let behind = add(&queue, &event("e2", Some("k")), &ordered);
    let other_key = add(&queue, &event("e3", Some("other")), &ordered);
    assert_eq!(state(&queue, behind, "a"), DeliveryState::Waiting);
    assert_eq!(state(&queue, other_key, "a"), DeliveryState::Ready);

    let lane = Lane::of(&event("e1", None));
    let mut leased = queue
        .lease_next("a", &lane, 0, 60_000)
        .expect("lease")
        .expect("the head is ready");
    assert_eq!(leased.seq, head);
    leased.record.state = DeliveryState::Done;
    let mut staging = queue.stage();
    let head_event = queue.event(head).expect("read").expect("stored");
    assert!(staging.release(&leased, &head_event).expect("release"));
    let staged = staging.commit().expect("commit");

    let readied: Vec<_> = staged.readied.iter().map(|p| p.seq).collect();
    assert_eq!(readied, [behind]);
    assert_eq!(state(&queue, head, "a"), DeliveryState::Done);
    assert_eq!(state(&queue, behind, "a"), DeliveryState::Ready);
}

#[test]
fn an_attempt_whose_lease_was_handed_out_again_cannot_release_it() {
    let (_dir, queue) = scratch();
    let seq = add(&queue, &event("e1", None), &[target("a", false)]);
    let lane = Lane::of(&event("e1", None));
    let stale = queue
        .lease_next("a", &lane, 0, 60_000)
        .expect("lease")
        .expect("ready");
    queue.release_leases().expect("release");
    let current = queue
        .lease_next("a", &lane, 0, 60_000)
        .expect("lease")
        .expect("ready again");
    assert_eq!((stale.record.attempts, current.record.attempts), (1, 2));

    let stored = queue.event(seq).expect("read").expect("stored");
    let mut staging = queue.stage();
    assert!(!staging.release(&stale, &stored).expect("release"));
    assert!(staging.release(&current, &stored).expect("release"));
}

#[test]
fn a_batch_of_more_events_than_a_group_holds_is_stored_as_several_and_each_reads_back() {
    let (_dir, queue) = scratch();
    let mut staging = queue.stage();
    let mut large = event("large", None);
    large.data = vec![7; 40 << 10];
    let mut seqs = Vec::new();
    for i in 0..600 {
        let stored = if i % 100 == 50 {
            large.clone()
        } else {
            event(&format!("e{i}"), None)
        };
        seqs.push(staging.add_event(&stored, &[]).expect("add"));
    }
    staging.commit().expect("commit");

    let groups = queue.events.iter().count();
    assert!((3..600).contains(&groups), "{groups} keys for 600 events");
    for (i, seq) in seqs.into_iter().enumerate() {
        let read = queue.event(seq).expect("read").expect("stored");
        let id = if i % 100 == 50 {
            "large".to_owned()
        } else {
            format!("e{i}")
        };
        assert_eq!(read.id, id);
    }
    assert_eq!(queue.last_seq().expect("last"), 600);
    assert_eq!(queue.check_sequence().expect("check"), 600);
}

#[test]
fn a_ready_delivery_has_no_record_until_something_happens_to_it_and_a_waiting_one_has() {
    let (_dir, queue) = scratch();
    let head = add(
        &queue,
        &event("e1", Some("k")),
        &[target("b", true), target("a", false)],
    );
    assert_eq!(queue.deliveries.iter().count(), 0, "no record written");
    assert_eq!(state(&queue, head, "a"), DeliveryState::Ready);
    let plugins: Vec<_> = (queue.deliveries_of(head).expect("read").into_iter())
        .map(|record| (record.plugin, record.state))
        .collect();
    let ready = DeliveryState::Ready;
    assert_eq!(plugins, [("a".into(), ready), ("b".into(), ready)]);
    assert!(
        queue.delivery(head, "c").expect("read").is_none(),
        "not a target"
    );

    let behind = add(&queue, &event("e2", Some("k")), &[target("b", true)]);
    assert_eq!(
        queue.deliveries.iter().count(),
        1,
        "the waiting one's record"
    );
    assert_eq!(state(&queue, behind, "b"), DeliveryState::Waiting);
}

#[test]
fn a_group_whose_last_member_is_damaged_still_gives_the_others() {
    let (_dir, queue) = scratch();
    let mut staging = queue.stage();
    let first = staging.add_event(&event("e1", None), &[]).expect("add");
    let last = staging.add_event(&event("e2", None), &[]).expect("add");
    staging.commit().expect("commit");
    // The last word of a group is its last member's end: past every member.
    let key = first.to_be_bytes();
    let mut value = queue
        .events
        .get(key)
        .expect("read")
        .expect("group")
        .to_vec();
    let at = value.len() - 4;
    value[at..].copy_from_slice(&u32::MAX.to_le_bytes());
    queue.events.insert(key, value).expect("damage");

    for _ in 0..2 {
        assert_eq!(queue.event(first).expect("read").expect("stored").id, "e1");
        let error = queue.event(last).expect_err("refused");
        assert!(error.to_string().contains("runs past its end"), "{error}");
    }
}
