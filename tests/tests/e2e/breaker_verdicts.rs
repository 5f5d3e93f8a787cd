//! A handler's `fail` is its verdict on one event, not a sign of ill health:
//! one partner's malformed webhooks are dead-lettered with the plugin's
//! reason, and the breaker stays closed for everyone else's bookings.

use serde_json::{Value, json};

use crate::breaker::open_breakers;
use crate::support::{Workspace, delivery, settled_event};

const ROUTE: &str = r#"
[[route]]
name = "bookings"
match = { type = "booking.webhook" }
plugins = ["booking-normalizer"]
"#;

#[test]
fn malformed_bookings_are_dead_letters_and_a_valid_one_after_them_runs_at_once() {
    // The breaker limits are the defaults: what a new user gets.
    let workspace = Workspace::new(&["booking-normalizer"], ROUTE);
    let weir = workspace.start();
    let malformed: Vec<Value> = (0..25)
        .map(|n| {
            json!({
                "id": format!("bad-{n}"),
                "source": "https://airbnb.example/webhooks",
                "type": "booking.webhook",
                "data": {"channel": "airbnb", "nonsense": 1},
            })
        })
        .collect();
    let answer = weir.post_json("/v1/events", &json!(malformed).to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);
    let valid = crate::booking_com("good", 98765, "listing-7");
    let answer = weir.post_json("/v1/events", &valid.to_string());
    assert_eq!(answer.status, 202, "{}", answer.text);

    let good = settled_event(&weir, "good");
    let good = delivery(&good, "booking-normalizer");
    assert_eq!(good["state"], "done", "{good}");
    assert_eq!(good["attempts"], 1, "{good}");
    for n in 0..25 {
        let bad = settled_event(&weir, &format!("bad-{n}"));
        let bad = delivery(&bad, "booking-normalizer");
        assert_eq!(bad["state"], "dead", "{bad}");
        assert_eq!(bad["attempts"], 1, "a verdict is final: {bad}");
        let error = bad["error"].as_str().unwrap_or_default();
        assert!(error.contains("missing field reservation"), "{bad}");
    }

    // Nothing of that counted against the plugin's health.
    let plugin = &weir.get("/v1/plugins").body["plugins"][0];
    assert_eq!(plugin["breaker"], "closed", "{plugin}");
    assert!(open_breakers(&weir).is_empty());
    let trips: f64 = weir
        .get("/metrics")
        .text
        .lines()
        .filter(|line| line.starts_with(r#"weir_breaker_trips_total{plugin="booking-normalizer""#))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(trips, 0.0);
    assert_eq!(
        weir.metric(r#"weir_deliveries_failed_total{plugin="booking-normalizer",reason="fail"}"#),
        25.0
    );
    weir.stop();
}
