//! Leasing: an attempt is counted when it is taken, lanes stay apart, and a
//! lease a crash left returns to ready.

use weir_event::Event;

use super::{DeliveryState, Lane, LeaseRound, Queue, Seq, Target, scratch};

/// Stores an event of `tenant` with one delivery to plugin `p`.
fn add(queue: &Queue, id: &str, tenant: &str) -> (Seq, Lane) {
    let event = Event::new(id.into(), "s".into(), "t".into(), tenant.into());
    let mut staging = queue.stage();
    let target = Target {
        plugin: "p".into(),
        ordered: false,
    };
    let seq = staging.add_event(&event, &[target]).expect("add");
    staging.commit().expect("commit");
    (seq, Lane::of(&event))
}

#[test]
fn a_lease_counts_its_attempt_and_takes_the_delivery_out_of_ready() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");

    let leased = queue
        .lease_next("p", &lane, 0, 60_000)
        .expect("lease")
        .expect("ready");
    assert_eq!((leased.seq, leased.record.attempts), (seq, 1));
    assert_eq!(leased.record.state, DeliveryState::Leased);
    let stored = queue.delivery(seq, "p").expect("read").expect("record");
    assert_eq!((stored.state, stored.attempts), (DeliveryState::Leased, 1));
    assert!(
        queue
            .lease_next("p", &lane, 0, 60_000)
            .expect("lease")
            .is_none()
    );
    assert!(queue.ready_lanes("p").expect("lanes").is_empty());
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
fn a_lease_past_its_deadline_is_listed_and_recovery_makes_it_ready_again() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    queue
        .lease_next("p", &lane, 0, 1_000)
        .expect("lease")
        .expect("ready");
    let now = weir_event::now_ms();

    assert!(queue.expired_leases(now).expect("expired").is_empty());
    let expired = queue.expired_leases(now + 60_000).expect("expired");
    assert_eq!(expired.len(), 1);
    assert_eq!(
        (expired[0].0.as_str(), expired[0].1, expired[0].3),
        ("p", seq, 1)
    );

    let readied = queue.recover_leases().expect("recover");
    assert_eq!(readied.iter().map(|p| p.seq).collect::<Vec<_>>(), [seq]);
    let again = queue
        .lease_next("p", &lane, 0, 1_000)
        .expect("lease")
        .expect("ready again");
    assert_eq!(again.record.attempts, 2);
}

#[test]
fn a_round_of_leases_takes_each_delivery_once_and_writes_them_together() {
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
    let before = queue.delivery(first, "p").expect("read").expect("record");
    assert_eq!(before.state, DeliveryState::Ready, "nothing written yet");

    queue.write_leases(round).expect("write");
    for seq in [first, second] {
        let stored = queue.delivery(seq, "p").expect("read").expect("record");
        assert_eq!((stored.state, stored.attempts), (DeliveryState::Leased, 1));
    }
    assert!(queue.ready_lanes("p").expect("lanes").is_empty());
}

/// An attempt that outlived its lease cannot end the lease of a later one,
/// even one with its attempt number (a revive starts the count again): each
/// lease has a token of its own.
#[test]
fn a_stale_attempt_cannot_end_a_later_lease_that_carries_its_number() {
    let (_dir, queue) = scratch();
    let (seq, lane) = add(&queue, "e1", "acme");
    let event = queue.event(seq).expect("read").expect("event");
    let lease = || {
        queue
            .lease_next("p", &lane, 0, 60_000)
            .expect("lease")
            .expect("ready")
    };
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
    let stored = queue.delivery(seq, "p").expect("read").expect("record");
    assert_eq!(
        stored.state,
        DeliveryState::Leased,
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
