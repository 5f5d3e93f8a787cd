//! The fault soak on NATS: two weir nodes on a three-server cluster while,
//! each round, a sender keeps posting events and a weir node is killed
//! (`kill -9`) and started again, a nats-server is killed and started again
//! (two of three keep the majority), and a weir node is stopped (`SIGSTOP`)
//! past its ack wait and then continued. Then the exactly-once audit: every
//! event acknowledged is recorded, once, and each key's in the order sent.
//! One round by default; a longer soak is `WEIR_NATS_SOAK_ROUNDS=10 cargo
//! test -p weir-tests --release nats_faults`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::nats::{PER_REQUEST, assert_each_once_in_order, send, start_node, wait_for_all};
use crate::nats_cluster::NatsCluster;
use crate::support::Weir;

/// Events sent through both nodes at the start of each round, before the
/// faults.
const BEFORE_FAULTS: u64 = 32;
/// At most this many events are sent during one round's faults, and for at
/// most [`LOAD_FOR`]: the load is bounded in count and time, both well past
/// what the faults take (about 8 s, at 20 ms or more a request).
const UNDER_FAULTS: u64 = 20_000;
const LOAD_FOR: Duration = Duration::from_secs(30);
/// The sender's pause between requests, so that its load lasts through the
/// faults rather than ending before the first.
const BETWEEN_REQUESTS: Duration = Duration::from_millis(20);
/// Longer than the nodes' ack wait (`nats::start_node`: a 1 s deadline,
/// 1 s of slack, 1 s of waiting for a slot and 0.5 s of grace), so that
/// what a stopped node holds is handed to the other.
const STOPPED_FOR: Duration = Duration::from_secs(5);
/// How long each fault lasts before the next, with the load going on.
const BETWEEN_FAULTS: Duration = Duration::from_millis(500);

#[test]
fn under_node_and_server_faults_every_event_applies_once_in_key_order() {
    let rounds: u64 = std::env::var("WEIR_NATS_SOAK_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(1);
    let mut cluster = NatsCluster::start();
    let (a_space, mut a) = start_node(&cluster, "node-a");
    let (_b_space, b) = start_node(&cluster, "node-b");
    let mut sent = 0;
    for round in 0..rounds {
        send(&[&a, &b], sent..sent + BEFORE_FAULTS);
        sent += BEFORE_FAULTS;
        let loading = AtomicBool::new(true);
        (sent, a) = std::thread::scope(|scope| {
            let load = scope.spawn(|| load_until_stopped(&b, sent, &loading));
            std::thread::sleep(BETWEEN_FAULTS);
            // a dies holding deliveries it pulled, and comes back.
            a.kill();
            let a = a_space.start();
            std::thread::sleep(BETWEEN_FAULTS);
            let server = (round % 3) as usize;
            cluster.kill(server);
            std::thread::sleep(BETWEEN_FAULTS);
            // a stops past its ack wait: b is handed what a holds, and a,
            // continued, finds its late endings refused or done.
            a.signal("STOP");
            cluster.restart(server);
            std::thread::sleep(STOPPED_FOR);
            a.signal("CONT");
            loading.store(false, Ordering::Relaxed);
            let (sent, stopped) = load.join().expect("the sender");
            assert!(stopped, "the sender ran through the faults");
            (sent, a)
        });
    }
    assert_each_once_in_order(&wait_for_all(&b, sent), sent);
    assert_each_once_in_order(&wait_for_all(&a, sent), sent);
    a.stop();
    b.stop();
}

/// Sends events numbered from `first` through `node`, a request at a time,
/// each acknowledged before the next (so each key's order is the order
/// sent), until `loading` is cleared or the bounds are reached; returns the
/// number after the last event sent, and whether it was `loading` that
/// stopped it.
fn load_until_stopped(node: &Weir, first: u64, loading: &AtomicBool) -> (u64, bool) {
    let started = Instant::now();
    let mut next = first;
    while next + PER_REQUEST <= first + UNDER_FAULTS && started.elapsed() < LOAD_FOR {
        if !loading.load(Ordering::Relaxed) {
            return (next, true);
        }
        send(&[node], next..next + PER_REQUEST);
        next += PER_REQUEST;
        std::thread::sleep(BETWEEN_REQUESTS);
    }
    (next, false)
}
