//! End-to-end tests. Each starts the real `weir` binary on a loopback port over
//! a fresh data directory, with real plugin components built from `plugins/`.

mod admission;
mod auth;
mod backends;
mod backup;
mod bad_input;
mod breaker;
mod breaker_outbound;
mod breaker_tenants;
mod breaker_throttled;
mod breaker_verdicts;
mod c_sdk;
mod capabilities;
mod chains;
mod cli;
mod cli_pipes;
mod cloudevents;
mod concurrency;
mod connection_limit;
mod crash;
mod dashboard;
mod dead_letters;
mod disk_full;
mod egress;
mod event_fidelity;
mod event_identity;
mod events_show;
mod example_pipeline;
mod exposure;
mod fairness;
mod hostile;
mod idempotency;
mod isolation;
mod manifests;
mod metric_values;
mod nats;
mod nats_cluster;
mod nats_faults;
mod old_nats_server;
mod openapi;
mod ordering;
mod otlp;
mod overload;
mod pipeline;
mod plugin_loading;
mod plugin_tools;
mod plugin_vectors;
mod polyglot;
mod prometheus;
mod python;
mod recorder;
mod reload;
mod replay;
mod restart;
mod retries;
mod retry_in_place;
mod route_options;
mod routes_check;
mod routing;
mod slow;
mod slowloris;
mod startup;
mod storage;
mod support;
mod tenants;
mod webhooks;

/// The routes of the example pipeline, as a config file would write them.
const EXAMPLE_ROUTES: &str = include_str!("../../../deploy/example-routes.toml");

/// A booking.com webhook for `listing`, as weir JSON.
fn booking_com(id: &str, reservation: u64, listing: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "source": "https://booking.example/webhooks",
        "type": "booking.webhook",
        "data": {
            "channel": "booking.com",
            "reservation_id": reservation,
            "hotel_id": listing,
            "guest_name": "Grace Hopper",
            "checkin": "2026-12-01",
            "checkout": "2026-12-04",
            "total_price": 300.0,
            "currency": "EUR"
        }
    })
}

/// Waits for every booking in `ids` to pass both plugins of the example
/// pipeline, then returns `price-calculator`'s state: each listing's totals.
fn settle_bookings(weir: &support::Weir, ids: &[String]) -> Vec<serde_json::Value> {
    for id in ids {
        let event = support::settled_event(weir, id);
        assert_eq!(
            support::delivery(&event, "booking-normalizer")["state"],
            "done",
            "{event:#}"
        );
    }
    weir.wait_for("every normalized booking to be priced", |weir| {
        (weir.metric(r#"weir_queue_depth{plugin="price-calculator"}"#) == 0.0
            && weir.metric(r#"weir_queue_depth{plugin="booking-normalizer"}"#) == 0.0)
            .then_some(())
    });
    let state = weir.get("/v1/plugins/price-calculator/state");
    state.body["entries"].as_array().expect("entries").clone()
}
