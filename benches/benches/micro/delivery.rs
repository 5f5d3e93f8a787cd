//! One delivery to a handler that only acks (`plugins/test-ack`), run the way
//! dispatch runs it (`Version::run`): a fresh store with its WASI context, an
//! instance from the pooling allocator, fuel and an epoch deadline set, the
//! event lifted into the guest, the call, the drop. One at a time, so the
//! figure is the runtime's overhead per delivery.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use tokio_util::sync::CancellationToken;
use weir::authoring::Workbench;
use weir::event::{DEFAULT_TENANT, Event};
use weir::runtime::{Attempt, Outcome, engine};

pub fn bench(c: &mut Criterion) {
    let scratch = tempfile::tempdir().expect("scratch directory");
    let bench = Workbench::open(
        &weir_bench::component("test-ack"),
        &scratch.path().join("data"),
        &scratch.path().join("cache"),
    )
    .expect("test-ack compiles");
    let state = bench.state().expect("a scratch store for test-ack");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    // Deadlines are enforced by the epoch, as in weir.
    let stop = CancellationToken::new();
    runtime.spawn(engine::tick_epochs(
        bench.plugins.engine().clone(),
        stop.clone(),
    ));
    let version = bench.version;
    let event = Event::new(
        "bench".to_owned(),
        "weir-bench".to_owned(),
        "bench".to_owned(),
        DEFAULT_TENANT.to_owned(),
    );
    let attempt = Attempt {
        event: &event,
        number: 1,
        generation: 0,
        limits: &version.limits,
    };
    let first = runtime.block_on(version.run(state.clone(), attempt));
    assert!(
        matches!(first.result, Ok(Outcome::Ack)),
        "the trivial handler did not ack: {:?}",
        first.result.err()
    );
    let mut group = c.benchmark_group("delivery");
    group.throughput(Throughput::Elements(1));
    group.bench_function("test-ack", |b| {
        b.iter(|| black_box(runtime.block_on(version.run(state.clone(), attempt))))
    });
    group.finish();
    stop.cancel();
}
