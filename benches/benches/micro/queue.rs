//! The queue alone, no fsync and no plugin: enqueueing through the group
//! committer as ingest does, and dequeueing as a plugin's worker does (the
//! fair scheduler picks a lane, the next delivery in it is leased, then
//! released as done in a batch of its own).

use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput};
use weir::ingest::GroupCommitter;
use weir::queue::Durability;
use weir_bench::queue_setup;
use weir_core::store::Append;

/// Bytes of data per event: a small webhook.
const PAYLOAD_BYTES: usize = 200;

/// Enqueue with `Durability::Buffered`: the group committer writes to the
/// operating system and does not fsync, so what is left is weir's own work
/// per event (duplicate check, routing, four keys). One submitter, so each
/// round of one request is a group of its own.
pub fn enqueue(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("scratch directory");
    let embedded =
        queue_setup::embedded(dir.path(), Durability::Buffered).expect("the bench store");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let (committer, thread) =
        GroupCommitter::start(embedded.clone()).expect("the group committer starts");
    let payload = queue_setup::payload(PAYLOAD_BYTES);
    // Event ids stay unique across every sample of every batch size.
    let mut next_id = 0;
    let mut group = c.benchmark_group("queue/enqueue");
    for batch in [1u64, 100] {
        group.throughput(Throughput::Elements(batch));
        group.bench_function(BenchmarkId::new("events_per_submit", batch), |b| {
            b.iter(|| {
                let first = next_id;
                next_id += batch;
                let events = (first..first + batch)
                    .map(|n| queue_setup::event(n, 1, &payload))
                    .collect();
                let request = Append {
                    events,
                    request_key: None,
                };
                let answer = runtime.block_on(committer.append(vec![request])).pop();
                let admitted =
                    (answer.expect("one answer per request")).expect("the group commit succeeds");
                assert!(admitted.iter().all(|admission| !admission.duplicate));
            })
        });
    }
    group.finish();
    drop(committer);
    thread.join().expect("the group commit thread stops");
}

/// Dequeue and ack, over one lane and over 400 (100 tenants × 4
/// priorities). Each sample first stores the deliveries it drains; only the
/// draining is timed.
pub fn dequeue(c: &mut Criterion) {
    let payload = queue_setup::payload(PAYLOAD_BYTES);
    let mut group = c.benchmark_group("queue/dequeue_ack");
    group.throughput(Throughput::Elements(1));
    for tenants in [1u64, 100] {
        let dir = tempfile::tempdir().expect("scratch directory");
        let embedded =
            queue_setup::embedded(dir.path(), Durability::Buffered).expect("the bench store");
        let mut stored = 0;
        group.bench_function(BenchmarkId::new("tenants", tenants), |b| {
            b.iter_custom(|iters| {
                queue_setup::fill(&embedded, stored, iters, tenants, &payload)
                    .expect("the deliveries are stored");
                stored += iters;
                let started = Instant::now();
                for _ in 0..iters {
                    let (leased, event) = queue_setup::lease(&embedded).expect("a lease");
                    queue_setup::finish(&embedded, leased, &event).expect("the release");
                }
                started.elapsed()
            })
        });
    }
    group.finish();
}
