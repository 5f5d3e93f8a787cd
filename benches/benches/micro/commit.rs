//! Committing what deliveries produced (the engine's `Ending::of`, then
//! `commit::store_round`), as dispatch does after the handlers return: each
//! delivery's outcome and attempt history, its idempotency record, and any
//! state writes and emitted events, in one atomic batch per round. A round
//! of one is a quiet node; a round of sixteen, one under load. The leases
//! before it are setup, not timed; the figure is per delivery.

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
    let cases = [
        ("ack", false, 1),
        ("emit_and_state", true, 1),
        ("ack_round_of_16", false, 16),
    ];
    for (case, emit_and_state, round) in cases {
        let dir = tempfile::tempdir().expect("scratch directory");
        let embedded =
            queue_setup::embedded(dir.path(), Durability::Buffered).expect("the bench store");
        let limits = embedded.shared.config.plugin_defaults.clone();
        let max_hops = embedded.shared.config.dispatch.max_hops;
        let mut stored = 0;
        group.bench_function(BenchmarkId::from_parameter(case), |b| {
            b.iter_custom(|iters| {
                let deliveries = iters * round;
                queue_setup::fill(&embedded, stored, deliveries, 1, &payload)
                    .expect("the deliveries are stored");
                stored += deliveries;
                let mut took = Duration::ZERO;
                for _ in 0..iters {
                    let leases = (0..round)
                        .map(|_| queue_setup::lease(&embedded).expect("a lease"))
                        .collect::<Vec<_>>();
                    let started = Instant::now();
                    let endings = leases
                        .into_iter()
                        .map(|(leased, event)| {
                            let leased = FjallLeased { leased, event };
                            let ending =
                                Ending::of(execution(emit_and_state), &leased, &limits, max_hops);
                            (leased, ending)
                        })
                        .collect();
                    let finished = commit::store_round(&embedded, endings).expect("the commit");
                    took += started.elapsed();
                    assert!(finished.iter().all(|f| matches!(f, Finished::Stored)));
                }
                // Per delivery, so the rounds compare.
                took / round as u32
            })
        });
    }
    group.finish();
}
