//! Leasing: an attempt is counted when it is taken, in memory, lanes stay
//! apart, and the attempts a crash or a stop cut short are counted once.

use std::path::Path;

use weir_event::Event;

use super::{
    BeforeRun, DeliveryResult, DeliveryState, Durability, Lane, LeaseRound, Queue, Seq, Target,
    keys, scratch,
};

/// Stores an event of `tenant` with one delivery to plugin `p`.
fn add(queue: &Queue, id: &str, tenant: &str) -> (Seq, Lane) {
    add_keyed(queue, id, tenant, None)
}

/// Stores an event of `tenant` with one delivery to plugin `p`, in the
/// order of `partitionkey` if there is one.
fn add_keyed(queue: &Queue, id: &str, tenant: &str, partitionkey: Option<&str>) -> (Seq, Lane) {
    let mut event = Event::new(id.into(), "s".into(), "t".into(), tenant.into());
    event.partitionkey = partitionkey.map(str::to_owned);
    let mut staging = queue.stage();
    let target = Target {
        plugin: "p".into(),
        ordered: partitionkey.is_some(),
    };
    let seq = staging.add_event(&event, &[target]).expect("add");
    staging.commit().expect("commit");
    (seq, Lane::of(&event))
}

/// Leases the next delivery of `lane`, which must have one.
fn take(queue: &Queue, lane: &Lane) -> super::Leased {
    (queue.lease_next("p", lane, 0, 60_000))
        .expect("lease")
        .expect("a delivery ready")
}

/// The queue in `dir` opened again, as after a crash: nothing of the
/// process before is left but what it wrote.
fn reopen(dir: &Path, queue: Queue) -> Queue {
    drop(queue);
    Queue::open(dir, Durability::Buffered).expect("open again")
}

/// (state, attempts) of the delivery of `seq` to `p` as stored.
fn stored(queue: &Queue, seq: Seq) -> (DeliveryState, u32) {
    let record = queue.delivery(seq, "p").expect("read").expect("record");
    (record.state, record.attempts)
}

#[test]
fn a_lease_counts_its_attempt_in_memory_and_is_not_taken_twice() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");

    let leased = take(&queue, &lane);
    assert_eq!((leased.seq, leased.record.attempts), (seq, 1));
    assert_eq!(leased.record.state, DeliveryState::Leased);
    assert_eq!(
        stored(&queue, seq),
        (DeliveryState::Ready, 0),
        "no record written"
    );
    let (_, viewed) = queue
        .event_with_deliveries(seq)
        .expect("read")
        .expect("event");
    assert_eq!(
        (viewed[0].state, viewed[0].attempts),
        (DeliveryState::Leased, 1)
    );
    assert!(
        queue
            .lease_next("p", &lane, 0, 60_000)
            .expect("lease")
            .is_none()
    );
    assert_eq!(
        queue.ready_since("p", &lane, 0).expect("read"),
        None,
        "not waiting"
    );
}

#[test]
fn each_lane_leases_only_its_own_deliveries() {
    let (_dir, queue) = scratch();
    let (acme_seq, acme) = add(&queue, "e1", "acme");
    let (globex_seq, globex) = add(&queue, "e2", "globex");
    assert_eq!(
        queue.ready_lanes("p").expect("lanes"),
        [acme.clone(), globex.clone()]
    );

    let lease = |lane: &Lane| {
        queue
            .lease_next("p", lane, 0, 60_000)
            .expect("lease")
            .map(|leased| leased.seq)
    };
    assert_eq!(lease(&globex), Some(globex_seq));
    assert_eq!(lease(&globex), None);
    assert_eq!(lease(&acme), Some(acme_seq));
}

#[test]
fn a_lease_past_its_deadline_is_listed() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let leased = queue
        .lease_next("p", &lane, 0, 1_000)
        .expect("lease")
        .expect("ready");
    let now = weir_event::now_ms();

    assert!(queue.expired_leases(now).is_empty());
    let expired = queue.expired_leases(now + 60_000);
    assert_eq!(expired.len(), 1);
    let (plugin, expired_seq, hold) = &expired[0];
    assert_eq!((plugin.as_str(), *expired_seq), ("p", seq));
    assert_eq!((hold.token, hold.attempt), (leased.token, 1));
}

#[test]
fn a_crash_counts_the_attempts_it_cut_short_once() {
    let (dir, queue) = scratch();
    let (running, lane) = add(&queue, "e1", "acme");
    let (waiting, _) = add(&queue, "e2", "acme");
    take(&queue, &lane);

    let queue = reopen(dir.path(), queue);
    let readied = queue.recover_leases().expect("recover");
    assert_eq!(readied.iter().map(|p| p.seq).collect::<Vec<_>>(), [running]);
    assert_eq!(stored(&queue, running), (DeliveryState::Ready, 1));
    assert_eq!(
        stored(&queue, waiting),
        (DeliveryState::Ready, 0),
        "not leased"
    );

    let queue = reopen(dir.path(), queue);
    assert!(
        queue.recover_leases().expect("recover").is_empty(),
        "the key went"
    );
    assert_eq!(stored(&queue, running), (DeliveryState::Ready, 1));
    let again = take(&queue, &lane);
    assert_eq!((again.seq, again.record.attempts), (running, 2));
}

#[test]
fn a_retry_in_place_cut_short_by_a_crash_is_counted_once() {
    let (dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let mut leased = take(&queue, &lane);
    let mut staging = queue.stage();
    assert!(staging.renew_lease(&mut leased, weir_event::now_ms()));
    staging.commit().expect("commit");
    assert_eq!(
        stored(&queue, seq),
        (DeliveryState::Leased, 2),
        "counted by the renewal"
    );

    let queue = reopen(dir.path(), queue);
    queue.recover_leases().expect("recover");
    assert_eq!(stored(&queue, seq), (DeliveryState::Ready, 2));
}

#[test]
fn a_stop_counts_the_running_attempts_ends_their_leases_and_leaves_nothing_to_count_again() {
    let (dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let leased = take(&queue, &lane);

    queue.release_leases().expect("release");
    assert_eq!(stored(&queue, seq), (DeliveryState::Ready, 1));
    let event = queue.event(seq).expect("read").expect("event");
    assert!(
        !queue.stage().release(&leased, &event).expect("release"),
        "the lease is gone"
    );

    let queue = reopen(dir.path(), queue);
    assert!(queue.recover_leases().expect("recover").is_empty());
    assert_eq!(stored(&queue, seq), (DeliveryState::Ready, 1));
}

#[test]
fn a_round_of_leases_takes_each_delivery_once_and_writes_their_keys_together() {
    let (_dir, queue) = scratch();
    let (first, lane) = add(&queue, "e1", "acme");
    let (second, _) = add(&queue, "e2", "acme");

    let mut round = LeaseRound::default();
    // Both from the lane's start: the round's reads still see the first as
    // ready, and must not take it twice.
    let mut stage = || {
        queue
            .stage_lease("p", &lane, 0, 60_000, &mut round)
            .expect("stage")
            .map(|leased| leased.seq)
    };
    assert_eq!(stage(), Some(first));
    assert_eq!(stage(), Some(second));
    assert_eq!(stage(), None);
    let attempt_kept = |seq: Seq| {
        let value = queue.leased.get(keys::plugin_seq("p", seq)).expect("read");
        value.and_then(|value| keys::read_lease(&value).map(|(_, attempt)| attempt))
    };
    assert_eq!(attempt_kept(first), None, "nothing written yet");
    assert_eq!(queue.holders.holder("p", first), None);

    queue.write_leases(round).expect("write");
    for seq in [first, second] {
        assert_eq!(attempt_kept(seq), Some(1));
        assert!(queue.holders.holder("p", seq).is_some());
        assert_eq!(
            stored(&queue, seq),
            (DeliveryState::Ready, 0),
            "no record written"
        );
    }
}

/// An attempt that outlived its lease cannot end the lease of a later one,
/// even one with its attempt number (a revive starts the count again): each
/// lease has a token of its own.
#[test]
fn a_stale_attempt_cannot_end_a_later_lease_that_carries_its_number() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let event = queue.event(seq).expect("read").expect("event");
    let lease = || take(&queue, &lane);
    let mut stale = lease();
    // It is dead-lettered without it (as a lost lease is), then revived.
    let mut staging = queue.stage();
    stale.record.state = DeliveryState::Dead;
    assert!(staging.release(&stale, &event).expect("release"));
    staging.mark_dead("p", seq);
    staging.commit().expect("commit");
    let mut staging = queue.stage();
    assert!(staging.revive(seq, "p").expect("revive"));
    staging.commit().expect("commit");
    let later = lease();
    assert_eq!(
        later.record.attempts, stale.record.attempts,
        "the same number"
    );

    let mut staging = queue.stage();
    stale.record.state = DeliveryState::Done;
    assert!(!staging.holds(&stale));
    assert!(
        !staging.release(&stale, &event).expect("release"),
        "the stale one writes nothing"
    );
    assert!(staging.holds(&later));
    drop(staging);
    assert_eq!(
        queue.holders.holder("p", seq),
        Some(later.token),
        "still the later attempt's"
    );
}

/// An ingest group is visible once written, but its deliveries are not
/// leased before its fsync returned; deliveries before it still are.
#[test]
fn a_delivery_of_a_group_not_yet_synced_is_not_leased() {
    let (_dir, queue) = scratch();
    let (synced, lane) = add(&queue, "e1", "acme");
    let mut staging = queue.stage();
    let event = Event::new("e2".into(), "s".into(), "t".into(), "acme".into());
    let target = Target {
        plugin: "p".into(),
        ordered: false,
    };
    let seq = staging.add_event(&event, &[target]).expect("add");
    queue.unsynced.hold(staging.new_seqs());
    staging.commit().expect("commit");
    let lease = || {
        queue
            .lease_next("p", &lane, 0, 60_000)
            .expect("lease")
            .map(|leased| leased.seq)
    };
    assert_eq!(lease(), Some(synced), "the one before the group");
    assert_eq!(lease(), None, "written, not yet synced");
    assert!(queue.event(seq).expect("read").is_some(), "yet readable");
    queue.unsynced.release();
    assert_eq!(lease(), Some(seq));
}

/// An earlier version wrote a key per lease, took the delivery out of its
/// lane and counted the attempt in its record.
#[test]
fn a_lease_an_earlier_version_left_is_ready_again_with_its_attempt() {
    let (dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let mut record = queue.delivery(seq, "p").expect("read").expect("record");
    (record.state, record.attempts) = (DeliveryState::Leased, 1);
    let mut batch = queue.db.batch();
    batch.remove(&queue.ready, keys::ready("p", &lane, seq));
    batch.insert(&queue.leased, keys::plugin_seq("p", seq), [0; 12]);
    batch.insert(
        &queue.deliveries,
        keys::delivery(seq, "p"),
        // As that version stored it.
        serde_json::to_vec(&record).expect("a record encodes"),
    );
    batch.commit().expect("commit");

    let queue = reopen(dir.path(), queue);
    let readied = queue.recover_leases().expect("recover");
    assert_eq!(readied.iter().map(|p| p.seq).collect::<Vec<_>>(), [seq]);
    assert_eq!(stored(&queue, seq), (DeliveryState::Ready, 1));
    assert!(queue.leased.is_empty().expect("read"), "the key went");
    let again = take(&queue, &lane);
    assert_eq!(again.record.attempts, 2);
}

/// A scan keeps what it finds ready past the delivery it takes; a delivery
/// made ready later between the cursor and those is still leased first.
#[test]
fn a_delivery_ready_again_before_those_kept_ahead_is_leased_first() {
    let (_dir, queue) = scratch();
    let (first, lane) = add(&queue, "e1", "acme");
    let (head, _) = add_keyed(&queue, "e2", "acme", Some("k"));
    let (behind, _) = add_keyed(&queue, "e3", "acme", Some("k"));
    let (last, _) = add(&queue, "e4", "acme");
    let lease_from = |from: Seq| {
        (queue.lease_next("p", &lane, from, 60_000))
            .expect("lease")
            .expect("a delivery ready")
    };
    assert_eq!(
        lease_from(0).seq,
        first,
        "the scan keeps the head and the last"
    );
    let mut leased_head = lease_from(first + 1);
    assert_eq!(leased_head.seq, head);

    leased_head.record.state = DeliveryState::Done;
    let event = queue.event(head).expect("read").expect("event");
    let mut staging = queue.stage();
    assert!(staging.release(&leased_head, &event).expect("release"));
    staging.commit().expect("commit");

    assert_eq!(
        lease_from(head + 1).seq,
        behind,
        "not the last, kept before"
    );
    assert_eq!(lease_from(behind + 1).seq, last);
}

/// Expiry lists a lease, then a retry in place renews it before expiry
/// stages its ending: the renewed lease is not the one listed.
#[test]
fn an_expiry_listed_before_a_retry_in_place_renewed_the_lease_ends_nothing() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let mut running = take(&queue, &lane);
    let (_, _, listed) = queue.expired_leases(u64::MAX)[0];

    let mut staging = queue.stage();
    assert!(staging.renew_lease(&mut running, weir_event::now_ms()));
    staging.commit().expect("commit");

    let mut record = queue.delivery(seq, "p").expect("read").expect("record");
    record.attempts = listed.attempt;
    let expired = super::Leased {
        seq,
        plugin: "p".into(),
        lane: lane.clone(),
        record,
        lease_ms: 60_000,
        token: listed.token,
    };
    let staging = queue.stage();
    assert!(!staging.holds(&expired), "the lease as listed is gone");
    assert!(staging.holds(&running), "the renewed one holds");
}

/// Before its handler runs, a delivery whose lease is no longer its own
/// does not run, and one whose record is done in its generation (put back
/// in its lane, as no path should) is settled rather than run twice.
#[test]
fn before_it_runs_a_delivery_is_checked_for_its_lease_and_its_result() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let first = take(&queue, &lane);
    assert_eq!(queue.before_run(&first), BeforeRun::Run);
    queue.release_leases().expect("release");
    assert_eq!(queue.before_run(&first), BeforeRun::LeaseLost);

    let mut done = take(&queue, &lane);
    assert_eq!(queue.before_run(&done), BeforeRun::Run);
    done.record.state = DeliveryState::Done;
    done.record.result = Some(DeliveryResult {
        outcome: "ack".into(),
        emitted: Vec::new(),
        state_writes: 0,
        committed_at_ms: 1,
    });
    let event = queue.event(seq).expect("read").expect("event");
    let mut staging = queue.stage();
    assert!(staging.release(&done, &event).expect("release"));
    staging.commit().expect("commit");
    let record = queue.delivery(seq, "p").expect("read").expect("record");
    let mut staging = queue.stage();
    staging.make_ready(seq, record).expect("ready again");
    staging.commit().expect("commit");

    let again = take(&queue, &lane);
    assert_eq!(queue.before_run(&again), BeforeRun::Committed);
}
