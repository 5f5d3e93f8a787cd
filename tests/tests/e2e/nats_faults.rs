//! The fault soak on NATS: two weir nodes on a three-server cluster under
//! load while, each round, a weir node is killed (`kill -9`) and started
//! again, a nats-server is killed and started again (two of three keep the
//! majority), and a weir node is stopped (`SIGSTOP`) past its ack wait and
//! then continued. Then the exactly-once audit: every event sent is
//! recorded, once, and each key's in the order sent. One round by default;
//! a longer soak is `WEIR_NATS_SOAK_ROUNDS=10 cargo test -p weir-tests
//! --release nats_faults`.

use std::time::Duration;

use crate::nats::{assert_each_once_in_order, send, start_node, wait_for_all};
use crate::nats_cluster::NatsCluster;

/// Events sent in each round, a quarter around each fault.
const PER_ROUND: u64 = 96;
/// Longer than the nodes' ack wait (`nats::start_node`: a 1 s deadline,
/// 1 s of slack, 1 s of waiting for a slot and 0.5 s of grace), so that
/// what a stopped node holds is handed to the other.
const STOPPED_FOR: Duration = Duration::from_secs(5);

#[test]
fn under_node_and_server_faults_every_event_applies_once_in_key_order() {
    let rounds: u64 = std::env::var("WEIR_NATS_SOAK_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(1);
    let mut cluster = NatsCluster::start();
    let (a_space, mut a) = start_node(&cluster, "node-a");
    let (_b_space, b) = start_node(&cluster, "node-b");
    let quarter = PER_ROUND / 4;
    for round in 0..rounds {
        let first = round * PER_ROUND;
        let part = |n: u64| first + n * quarter..first + (n + 1) * quarter;
        send(&[&a, &b], part(0));
        // Mid-load: a dies holding deliveries it pulled, and comes back.
        a.kill();
        a = a_space.start();
        send(&[&a, &b], part(1));
        let server = (round % 3) as usize;
        cluster.kill(server);
        send(&[&a, &b], part(2));
        // a stops right after its share of the load, past its ack wait: b
        // is handed what a holds, and a, continued, finds its late endings
        // refused or done.
        a.signal("STOP");
        cluster.restart(server);
        send(&[&b], part(3));
        std::thread::sleep(STOPPED_FOR);
        a.signal("CONT");
    }
    let total = rounds * PER_ROUND;
    assert_each_once_in_order(&wait_for_all(&b, total), total);
    assert_each_once_in_order(&wait_for_all(&a, total), total);
    a.stop();
    b.stop();
}
