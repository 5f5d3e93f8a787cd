//! Series that exist before their first event.
//!
//! prometheus-client writes a labelled series only once something created it,
//! so `weir_dead_letters_replayed_total` or `weir_plugin_paused` were missing
//! until first used, and a Grafana panel over them said "No data" instead of
//! 0 (and `rate()` needs the 0 to see the first increase). Every series whose
//! labels are known in advance is created here: for each plugin when it is
//! loaded, and for the fixed label values when weir starts.

use super::{FailureLabels, Metrics, ReasonLabel, ReloadLabels, ResultLabel, plugin};
use crate::runtime::FailureKind;

/// Why an attempt fails besides a trap or limit (`FailureKind`): the
/// handler's own answers, and output weir cannot store.
const HANDLER_FAILURES: [&str; 3] = ["fail", "retry_later", "invalid_output"];

/// What becomes of a change to a plugin's files (`weir_plugin_reloads_total`).
const PLUGIN_RELOAD_RESULTS: [&str; 3] = ["loaded", "rejected", "removed"];

/// What becomes of a change to the routing table (`weir_route_reloads_total`).
const ROUTE_RELOAD_RESULTS: [&str; 2] = ["loaded", "rejected"];

/// The error codes `POST /v1/events` and the webhook endpoints refuse a
/// request with (`weir_ingest_rejected_total`), as `ApiError::code` names them.
const INGEST_REFUSALS: [&str; 18] = [
    "invalid_json",
    "invalid_event",
    "bad_request",
    "unsupported_media_type",
    "payload_too_large",
    "too_many_events",
    "request_timeout",
    "unavailable",
    "overloaded",
    "rate_limited",
    "over_quota",
    "insufficient_storage",
    "invalid_signature",
    "unauthorized",
    "forbidden",
    "idempotency_key_in_use",
    "idempotency_key_reused",
    "unrouted",
];

// `get_or_create` makes the series at zero; the handle it returns is not needed.
impl Metrics {
    /// Creates the series whose labels do not name a plugin, at zero.
    pub(crate) fn known_at_start(&self) {
        for result in ROUTE_RELOAD_RESULTS {
            let _ = self.route_reloads.get_or_create(&ResultLabel {
                result: result.to_owned(),
            });
        }
        for reason in INGEST_REFUSALS {
            let _ = self.ingest_rejected.get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            });
        }
    }

    /// Creates every series of a plugin just loaded: counters, histograms
    /// and gauges at zero (nothing has run, nothing waits, nothing is paused
    /// yet), and its concurrency limit at `concurrency_limit`, where it starts.
    pub fn plugin_loaded(&self, name: &str, concurrency_limit: u32) {
        let label = plugin(name);
        for counter in [
            &self.deliveries_processed,
            &self.deliveries_retried,
            &self.retries_in_place,
            &self.deliveries_dead,
            &self.dead_letters_replayed,
            &self.state_conflicts,
            &self.fuel_consumed,
        ] {
            let _ = counter.get_or_create(&label);
        }
        self.breakers_registered(name);
        for gauge in [&self.queue_depth, &self.instances_busy, &self.plugin_paused] {
            let _ = gauge.get_or_create(&label);
        }
        let _ = self.oldest_ready_age.get_or_create(&label);
        let _ = self.handler_duration.get_or_create(&label);
        let _ = self.event_latency.get_or_create(&label);
        self.concurrency_limit
            .get_or_create(&label)
            .set(i64::from(concurrency_limit));
        let kinds = FailureKind::ALL.map(FailureKind::as_str);
        for reason in HANDLER_FAILURES.iter().chain(&kinds) {
            let _ = self.deliveries_failed.get_or_create(&FailureLabels {
                plugin: label.plugin.clone(),
                reason: (*reason).to_owned(),
            });
        }
        for result in PLUGIN_RELOAD_RESULTS {
            let _ = self.plugin_reloads.get_or_create(&ReloadLabels {
                plugin: label.plugin.clone(),
                result: result.to_owned(),
            });
        }
    }
}
