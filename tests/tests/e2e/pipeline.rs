//! An event goes from POST through both example plugins; results, state and
//! metrics are visible over HTTP.

use serde_json::json;

use crate::support::{Weir, Workspace, delivery, settled_event};
use crate::{EXAMPLE_ROUTES, booking_com};

#[test]
fn bookings_are_normalized_priced_and_visible() {
    let config = format!(
        "{EXAMPLE_ROUTES}\n[plugins.price-calculator.config]\nbase_price_cents = \"12000\"\n"
    );
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], &config);
    let weir = workspace.start();

    let airbnb = json!({
        "specversion": "1.0", "id": "airbnb-1", "source": "https://airbnb.example", "type": "booking.webhook",
        "tenant": "acme",
        "data": {"channel": "airbnb", "reservation": {"code": "HM123", "listing_id": "L1",
            "guest": {"first_name": "Ada", "last_name": "Lovelace"},
            "start_date": "2026-12-01", "end_date": "2026-12-04",
            "payout": {"amount": "412.50", "currency": "EUR"}}}
    });
    let mut booking = booking_com("bcom-1", 98765, "L1");
    booking["tenant"] = json!("acme");
    let answer = weir.post_json("/v1/events", &json!([airbnb, booking]).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    assert_eq!(answer.body["ids"], json!(["airbnb-1", "bcom-1"]));

    let event = settled_event(&weir, "airbnb-1");
    assert_eq!(event["tenant"], "acme");
    let normalizer = delivery(&event, "booking-normalizer");
    assert_eq!(normalizer["state"], "done", "{event:#}");
    assert_eq!(normalizer["attempts"], 1);
    assert_eq!(normalizer["result"]["outcome"], "emit");
    let normalized_id = normalizer["result"]["emitted"][0]
        .as_str()
        .expect("one emitted id");

    let normalized = settled_event(&weir, normalized_id);
    assert_eq!(normalized["type"], "booking.normalized");
    assert_eq!(
        normalized["tenant"], "acme",
        "emitted events keep the tenant"
    );
    assert_eq!(normalized["causationid"], "airbnb-1");
    assert_eq!(normalized["correlationid"], "airbnb-1");
    assert_eq!(normalized["hops"], 1);
    assert_eq!(
        normalized["data"],
        json!({"booking_id": "airbnb:HM123", "listing_id": "L1", "guest_name": "Ada Lovelace",
               "check_in": "2026-12-01", "check_out": "2026-12-04", "nights": 3,
               "total_cents": 41250, "currency": "EUR", "channel": "airbnb"})
    );
    let pricing = delivery(&normalized, "price-calculator");
    assert_eq!(pricing["state"], "done", "{normalized:#}");
    assert_eq!(pricing["result"]["state_writes"], 1);
    let price_id = pricing["result"]["emitted"][0]
        .as_str()
        .expect("price.updated emitted");
    let price = weir.get(&format!("/v1/events/{price_id}"));
    assert_eq!(price.body["type"], "price.updated");
    assert_eq!(
        price.body["correlationid"], "airbnb-1",
        "the whole chain shares one correlation id"
    );
    assert_eq!(
        price.body["deliveries"],
        json!([]),
        "price.updated has no route"
    );

    settled_event(&weir, "bcom-1");
    let state = weir.wait_for("both bookings in the listing state", |weir| {
        let state = weir.get("/v1/plugins/price-calculator/state?tenant=acme");
        (state.body["entries"][0]["value"]["bookings"] == 2).then_some(state.body)
    });
    assert_eq!(
        state["entries"],
        json!([{"key": "listing:L1", "value": {"bookings": 2, "booked_nights": 6, "revenue_cents": 71250}}])
    );
    let other_tenant = weir.get("/v1/plugins/price-calculator/state?tenant=default");
    assert_eq!(
        other_tenant.body["entries"],
        json!([]),
        "state is scoped by tenant"
    );

    let metrics = weir.get("/metrics");
    assert!(
        metrics
            .content_type
            .starts_with("text/plain; version=0.0.4"),
        "{}",
        metrics.content_type
    );
    assert_eq!(weir.metric("weir_events_ingested_total"), 2.0);
    assert_eq!(
        weir.metric(r#"weir_deliveries_processed_total{plugin="booking-normalizer"}"#),
        2.0
    );
    assert_eq!(
        weir.metric(r#"weir_deliveries_processed_total{plugin="price-calculator"}"#),
        2.0
    );
    assert_eq!(
        weir.metric(r#"weir_handler_duration_seconds_count{plugin="price-calculator"}"#),
        2.0
    );
    assert_eq!(
        weir.metric(r#"weir_queue_depth{plugin="price-calculator"}"#),
        0.0
    );
    assert!(weir.metric(r#"weir_fuel_consumed_total{plugin="booking-normalizer"}"#) > 0.0);
    assert!(weir.metric("weir_fsync_duration_seconds_count") >= 1.0);

    assert_eq!(weir.get("/healthz").status, 200);
    assert_eq!(weir.get("/readyz").status, 200);
    let plugins = weir.get("/v1/plugins");
    assert_eq!(plugins.body["plugins"][0]["name"], "booking-normalizer");
    weir.stop();
}

#[test]
fn a_repeated_id_is_stored_and_handled_once() {
    let workspace = Workspace::new(&["booking-normalizer", "price-calculator"], EXAMPLE_ROUTES);
    let weir = workspace.start();
    let body = booking_com("dup-1", 1, "L7").to_string();
    let first = weir.post_json("/v1/events", &body);
    assert_eq!(
        (first.status, first.body["duplicates"].clone()),
        (202, json!([]))
    );
    settled_event(&weir, "dup-1");
    let again = weir.post_json("/v1/events", &body);
    assert_eq!(again.status, 202);
    assert_eq!(again.body["duplicates"], json!(["dup-1"]));
    let in_one_batch = weir.post_json("/v1/events", &format!("[{body}, {body}]"));
    assert_eq!(in_one_batch.body["duplicates"], json!(["dup-1", "dup-1"]));

    assert_eq!(weir.metric("weir_events_ingested_total"), 1.0);
    let state = weir.wait_for("the booking in state", |weir| {
        let state = weir.get("/v1/plugins/price-calculator/state");
        (state.body["entries"][0]["value"]["bookings"] == 1).then_some(state.body)
    });
    assert_eq!(state["entries"][0]["value"]["bookings"], 1);
    assert_eq!(
        delivery(&settled_event(&weir, "dup-1"), "booking-normalizer")["attempts"],
        1
    );
}

#[test]
fn with_no_config_weir_runs_its_bundled_examples() {
    let dir = tempfile::tempdir().expect("temp dir");
    let weir = Weir::start(
        &["serve".into(), "--listen".into(), "127.0.0.1:0".into()],
        &[],
        dir.path(),
    );
    assert!(
        dir.path()
            .join("weir-data/plugins/booking-normalizer.wasm")
            .exists()
    );
    let answer = weir.post_json("/v1/events", &booking_com("first", 7, "L1").to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let event = settled_event(&weir, "first");
    let normalized_id = delivery(&event, "booking-normalizer")["result"]["emitted"][0]
        .as_str()
        .expect("emitted")
        .to_owned();
    let normalized = settled_event(&weir, &normalized_id);
    assert_eq!(delivery(&normalized, "price-calculator")["state"], "done");
    weir.stop();
}
