//! Restarts, graceful or not, lose no accepted event and run no effect twice.

use serde_json::{Value, json};

use crate::support::{Weir, Workspace};
use crate::{EXAMPLE_ROUTES, booking_com, settle_bookings};

const EVENTS: usize = 200;
const BATCH: usize = 20;
const LISTINGS: usize = 4;

fn post_bookings(weir: &Weir) -> Vec<String> {
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
fn a_crash_after_ingest_loses_nothing_and_runs_nothing_twice() {
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], EXAMPLE_ROUTES);
    let weir = workspace.start();
    let ids = post_bookings(&weir);
    // Every event was answered 202; now the process dies mid-processing.
    weir.kill();

    let weir = workspace.start();
    let entries = settle_bookings(&weir, &ids);
    let per_listing = (EVENTS / LISTINGS) as u64;
    assert_eq!(entries.len(), LISTINGS);
    for entry in &entries {
        assert_eq!(
            entry["value"],
            json!({"bookings": per_listing, "booked_nights": 3 * per_listing, "revenue_cents": 30000 * per_listing}),
            "each booking counted exactly once: {entry}"
        );
    }
    weir.stop();

    // A graceful restart with nothing left to do runs nothing again.
    let weir = workspace.start();
    assert_eq!(settle_bookings(&weir, &ids), entries);
    assert_eq!(
        weir.metric(r#"weir_deliveries_processed_total{plugin="price-calculator"}"#),
        0.0
    );
    weir.stop();
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
