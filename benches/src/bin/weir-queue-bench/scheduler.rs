//! The fair scheduler's own cost per dispatch, in memory: choosing the lane
//! (priority by weight, tenant by turn) and moving its cursor, with every lane
//! always having work, which is when the choice costs most.

use std::time::Instant;

use weir::config::LaneWeights;
use weir::dispatch::{Fair, Tenants};
use weir::event::Priority;
use weir::queue::Lane;

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

/// Nanoseconds per dispatch over `picks` dispatches among `tenants` tenants in
/// each of the four priorities.
pub fn ns_per_dispatch(tenants: u64, picks: u64) -> f64 {
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
    let started = Instant::now();
    for seq in 0..picks {
        let Some((lane, _)) = fair.next(&Uncapped) else {
            break;
        };
        fair.leased(&lane, seq, &Uncapped);
    }
    started.elapsed().as_nanos() as f64 / picks as f64
}
