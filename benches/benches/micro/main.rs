//! Criterion micro-benchmarks of weir's hot paths, each part alone, in one
//! process (`cargo bench -p weir-bench --bench micro`):
//!
//! - `route_match` (`route.rs`): routing one event through a 200-route table;
//! - `queue` (`queue.rs`): enqueueing through the group committer (no fsync)
//!   and leasing and finishing deliveries in the fair scheduler's order;
//! - `scheduler` (`scheduler.rs`): the fair scheduler's choice alone;
//! - `delivery` (`delivery.rs`): one delivery to a handler that only acks,
//!   instantiation from the pool to drop;
//! - `commit` (`commit.rs`): committing what one delivery produced.
//!
//! What needs the disk's fsync or a running server is measured against its
//! ceiling by the scripts in `benches/` instead.

mod commit;
mod delivery;
mod queue;
mod route;
mod scheduler;

use criterion::{criterion_group, criterion_main};

criterion_group!(
    micro,
    route::bench,
    queue::enqueue,
    queue::dequeue,
    scheduler::bench,
    delivery::bench,
    commit::bench
);
criterion_main!(micro);
