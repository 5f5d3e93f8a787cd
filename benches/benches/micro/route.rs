//! Routing one event through a large table, as ingest does for every event.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use weir::event::Event;
use weir_bench::route_table;

/// Routes in the table: a large SaaS back end's.
const ROUTES: usize = 200;

pub fn bench(c: &mut Criterion) {
    let table = route_table::table(ROUTES).expect("the generated table loads");
    let events: Vec<Event> = (0..1000).map(route_table::event).collect();
    let mut group = c.benchmark_group("route_match");
    group.throughput(Throughput::Elements(1));
    let mut next = events.iter().cycle();
    group.bench_function(format!("{ROUTES}_routes"), |b| {
        b.iter(|| {
            let event = next.next().expect("cycle never ends");
            black_box(table.plugins_for(event).len())
        })
    });
    group.finish();
}
