//! The fair scheduler's own cost per dispatch, in memory: choosing the lane
//! (priority by weight, tenant by turn) and moving its cursor, with every lane
//! always having work, which is when the choice costs most.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput};
use weir::config::LaneWeights;
use weir::event::Priority;
use weir::queue::Lane;
use weir::schedule::{Fair, Tenants};

/// Every tenant with weight 1 and no cap.
struct Uncapped;

impl Tenants for Uncapped {
    fn weight(&self, _tenant: &str) -> u32 {
        1
    }
    fn has_room(&self, _tenant: &str) -> bool {
        true
    }
}

pub fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("scheduler");
    group.throughput(Throughput::Elements(1));
    for tenants in [1u64, 100, 10_000] {
        let mut fair = Fair::new(LaneWeights::default());
        for priority in Priority::ALL {
            for tenant in 0..tenants {
                let lane = Lane {
                    priority,
                    tenant: format!("tenant-{tenant}"),
                };
                fair.ready(&lane, 0);
            }
        }
        let mut seq = 0;
        group.bench_function(BenchmarkId::new("choice", tenants), |b| {
            b.iter(|| {
                let (lane, _) = fair.next(&Uncapped).expect("every lane has work");
                seq += 1;
                fair.leased(black_box(&lane), seq, &Uncapped);
            })
        });
    }
    group.finish();
}
