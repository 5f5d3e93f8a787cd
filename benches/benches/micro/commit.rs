//! Committing what one delivery produced (the engine's `Ending::of`, then
//! `commit::store`), as dispatch does after the handler returns: the
//! delivery's outcome and attempt history, its
//! idempotency record, and any state writes and emitted events, in one
//! atomic batch. The lease before it is setup, not timed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use weir::commit;
use weir::dispatch::FjallLeased;
use weir::queue::Durability;
use weir::runtime::{Effects, Execution, NewEvent, Outcome};
use weir_bench::queue_setup;
use weir_core::deliver::{Ending, Finished};

/// What the handler returned: an ack, or one event and one state write.
fn execution(emit_and_state: bool) -> Execution {
    let (result, effects) = match emit_and_state {
        false => (Ok(Outcome::Ack), Effects::default()),
        true => {
            let emitted = NewEvent {
                type_: "bench.priced".to_owned(),
                source: None,
                subject: None,
                datacontenttype: Some("application/json".to_owned()),
                data: queue_setup::payload(200),
                extensions: Vec::new(),
            };
            let value = b"{\"total\":41250}".to_vec();
            let effects = Effects {
                state_bytes: value.len(),
                state_writes: BTreeMap::from([("listing:L1".to_owned(), Some(value))]),
                ..Effects::default()
            };
            (Ok(Outcome::Emit(vec![emitted])), effects)
        }
    };
    Execution {
        result,
        effects,
        fuel_consumed: 1_000,
        started_at_ms: 0,
        duration: Duration::from_micros(10),
        version: Arc::from("bench"),
        outbound_failures: 0,
    }
}

pub fn bench(c: &mut Criterion) {
    let payload = queue_setup::payload(200);
    let mut group = c.benchmark_group("commit");
    group.throughput(Throughput::Elements(1));
    for (case, emit_and_state) in [("ack", false), ("emit_and_state", true)] {
        let dir = tempfile::tempdir().expect("scratch directory");
        let embedded =
            queue_setup::embedded(dir.path(), Durability::Buffered).expect("the bench store");
        let limits = embedded.shared.config.plugin_defaults.clone();
        let max_hops = embedded.shared.config.dispatch.max_hops;
        let mut stored = 0;
        group.bench_function(BenchmarkId::from_parameter(case), |b| {
            b.iter_custom(|iters| {
                queue_setup::fill(&embedded, stored, iters, 1, &payload)
                    .expect("the deliveries are stored");
                stored += iters;
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let (leased, event) = queue_setup::lease(&embedded).expect("a lease");
                    let execution = execution(emit_and_state);
                    let started = Instant::now();
                    let leased = FjallLeased { leased, event };
                    let ending = Ending::of(execution, &leased, &limits, max_hops);
                    let finished = commit::store(&embedded, leased, ending).expect("the commit");
                    took += started.elapsed();
                    assert!(matches!(finished, Finished::Stored));
                }
                took
            })
        });
    }
    group.finish();
}
