//! A graceful stop right after ingest resumes on restart (a crash, then a
//! restart, is checked on both stores, in `backends.rs`).

use serde_json::Value;

use crate::support::{Weir, Workspace};
use crate::{EXAMPLE_ROUTES, booking_com, settle_bookings};

pub const EVENTS: usize = 200;
const BATCH: usize = 20;
pub const LISTINGS: usize = 4;

/// Posts [`EVENTS`] bookings over [`LISTINGS`] listings, in requests of
/// [`BATCH`]; their ids.
pub fn post_bookings(weir: &Weir) -> Vec<String> {
    let mut ids = Vec::new();
    for batch in 0..EVENTS / BATCH {
        let events: Vec<Value> = (0..BATCH)
            .map(|i| {
                let n = batch * BATCH + i;
                ids.push(format!("b{n}"));
                booking_com(&format!("b{n}"), n as u64, &format!("L{}", n % LISTINGS))
            })
            .collect();
        let answer = weir.post_json("/v1/events", &Value::Array(events).to_string());
        assert_eq!(answer.status, 202, "{}", answer.text);
    }
    ids
}

#[test]
fn a_graceful_stop_right_after_ingest_resumes_on_restart() {
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], EXAMPLE_ROUTES);
    let weir = workspace.start();
    let ids = post_bookings(&weir);
    weir.stop();

    let weir = workspace.start();
    let entries = settle_bookings(&weir, &ids);
    let bookings: u64 = entries
        .iter()
        .map(|e| e["value"]["bookings"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(bookings, EVENTS as u64);
    weir.stop();
}
