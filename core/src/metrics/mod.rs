//! Prometheus metrics (OpenMetrics text at `/metrics`).
//!
//! prometheus-client appends `_total` to counters and the unit to metrics
//! registered with one, so names here carry neither.
//!
//! Beside the registry: the per-plugin totals `GET /v1/plugins` shows
//! ([`counts`]), the dashboard's recent latencies and reloads
//! ([`latency_window`], [`reload_log`]), the capped per-tenant series
//! ([`tenant_series`]) and the classic text format ([`exposition`]).

pub mod counts;
pub mod exposition;
mod known_series;
pub mod latency_window;
pub mod reload_log;
pub mod tenant_series;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use std::sync::atomic::AtomicU64;

/// Labels naming a plugin.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PluginLabel {
    /// The plugin name.
    pub plugin: String,
}

/// Labels naming a plugin and why an attempt did not succeed.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// The plugin name.
    pub plugin: String,
    /// `retry_later`, `fail`, `out_of_fuel`, `deadline`, `memory_limit`, `trap`, ...
    pub reason: String,
}

/// Labels naming a plugin and what became of a change to its files.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReloadLabels {
    /// The plugin name.
    pub plugin: String,
    /// `loaded`, `rejected` or `removed`.
    pub result: String,
}

/// A label naming what became of an attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `loaded` or `rejected`.
    pub result: String,
}

/// Labels naming why ingest refused a request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// The error code sent to the client.
    pub reason: String,
}

/// Labels naming an HTTP route (its template, not the path asked for), the
/// method and the status answered: all bounded sets.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template, such as `/v1/events/{id}`, or `unmatched`.
    pub route: String,
    /// The request method.
    pub method: String,
    /// The status code answered.
    pub status: u16,
}

/// A label naming a tenant, for the opt-in per-tenant series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TenantLabel {
    /// The tenant, or [`OTHER_TENANTS`] past `[metrics] tenant_series`.
    pub tenant: String,
}

/// The tenant label of every tenant past the cap.
pub const OTHER_TENANTS: &str = "_other";

/// The plugin label for `name`.
pub fn plugin(name: &str) -> PluginLabel {
    PluginLabel {
        plugin: name.to_owned(),
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Every metric weir exports.
pub struct Metrics {
    registry: Registry,
    /// The delivery counters again, per plugin, for `GET /v1/plugins`.
    pub counts: counts::CountsByPlugin,
    /// End-to-end latencies since the dashboard's last sample.
    pub recent_latency: latency_window::LatencyWindow,
    /// The latest plugin reloads, for the dashboard.
    pub recent_reloads: reload_log::ReloadLog,
    /// Events made durable.
    pub events_ingested: Counter,
    /// Ingest requests refused, by error code.
    pub ingest_rejected: Family<ReasonLabel, Counter>,
    /// Deliveries handled to completion (ack or emit).
    pub deliveries_processed: Family<PluginLabel, Counter>,
    /// Attempts that did not complete, by reason: the handler's own (`fail`,
    /// `retry_later`) or the trap or limit that stopped it (`out_of_fuel`,
    /// `deadline`, `memory_limit`, `stack_overflow`, `trap`, ...).
    pub deliveries_failed: Family<FailureLabels, Counter>,
    /// Attempts scheduled to run again.
    pub deliveries_retried: Family<PluginLabel, Counter>,
    /// Of those, the retries that waited in place: in memory on the node
    /// that ran them, not scheduled in the store.
    pub retries_in_place: Family<PluginLabel, Counter>,
    /// Deliveries given up on.
    pub deliveries_dead: Family<PluginLabel, Counter>,
    /// Dead letters an operator replayed.
    pub dead_letters_replayed: Family<PluginLabel, Counter>,
    /// Handler runs whose state reads went stale before commit (then run again).
    pub state_conflicts: Family<PluginLabel, Counter>,
    /// Deliveries not yet done or dead.
    pub queue_depth: Family<PluginLabel, Gauge>,
    /// How long the oldest ready delivery has waited for a slot.
    pub oldest_ready_age: Family<PluginLabel, Gauge<f64, AtomicU64>>,
    /// Deliveries a plugin may run at once now (its adaptive limit).
    pub concurrency_limit: Family<PluginLabel, Gauge>,
    /// Times one of a plugin's circuit breakers (one per route and tenant)
    /// opened, by the signal that opened it (`trap`, `deadline`,
    /// `outbound`, `retry_later`, ...).
    pub breaker_trips: Family<FailureLabels, Counter>,
    /// 1 while an operator has paused the plugin.
    pub plugin_paused: Family<PluginLabel, Gauge>,
    /// Changes to plugin files seen while weir runs, by what became of them.
    pub plugin_reloads: Family<ReloadLabels, Counter>,
    /// Changes to the config file's routing table, by what became of them.
    pub route_reloads: Family<ResultLabel, Counter>,
    /// Instance slots in use.
    pub instances_busy: Family<PluginLabel, Gauge>,
    /// Time in the handler, instantiation included.
    pub handler_duration: HistogramFamily<PluginLabel>,
    /// Fuel burned by handlers.
    pub fuel_consumed: Family<PluginLabel, Counter>,
    /// Time from ingest to the commit of a plugin's result.
    pub event_latency: HistogramFamily<PluginLabel>,
    /// Time to answer an HTTP request.
    pub http_request_duration: HistogramFamily<HttpLabels>,
    /// Deliveries not yet done or dead, per tenant, when `[metrics]
    /// tenant_series` is on.
    pub tenant_queue_depth: Family<TenantLabel, Gauge>,
    /// Events per group commit.
    pub group_commit_events: Histogram,
    /// Time to write and fsync one group commit.
    pub fsync_duration: Histogram,
    /// Events past the retention still kept for their pending deliveries,
    /// as the embedded store's retention last counted them.
    pub events_kept_past_retention: Gauge,
}

/// Bounds of the end-to-end histogram, in seconds: 0.5 ms to 10 min, since
/// the latency includes queueing and retries. Steps of 1, 2.5 and 5 put the
/// usual latency objectives (10 ms, 25 ms, 100 ms, ...) on bucket bounds, so
/// whether one is met reads straight off the counts.
const END_TO_END_BOUNDS: [f64; 19] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0,
    50.0, 100.0, 250.0, 600.0,
];

fn end_to_end_histogram() -> Histogram {
    Histogram::new(END_TO_END_BOUNDS)
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~13 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("weir");
        let metrics = Metrics {
            events_ingested: Counter::default(),
            ingest_rejected: Family::default(),
            deliveries_processed: Family::default(),
            deliveries_failed: Family::default(),
            deliveries_retried: Family::default(),
            retries_in_place: Family::default(),
            deliveries_dead: Family::default(),
            dead_letters_replayed: Family::default(),
            state_conflicts: Family::default(),
            queue_depth: Family::default(),
            oldest_ready_age: Family::default(),
            instances_busy: Family::default(),
            plugin_paused: Family::default(),
            plugin_reloads: Family::default(),
            route_reloads: Family::default(),
            breaker_trips: Family::default(),
            concurrency_limit: Family::default(),
            handler_duration: Family::new_with_constructor(latency_histogram),
            fuel_consumed: Family::default(),
            event_latency: Family::new_with_constructor(end_to_end_histogram),
            http_request_duration: Family::new_with_constructor(latency_histogram),
            tenant_queue_depth: Family::default(),
            group_commit_events: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            fsync_duration: latency_histogram(),
            events_kept_past_retention: Gauge::default(),
            registry: Registry::default(),
            counts: Default::default(),
            recent_latency: Default::default(),
            recent_reloads: Default::default(),
        };
        registry.register(
            "events_ingested",
            "Events made durable",
            metrics.events_ingested.clone(),
        );
        registry.register(
            "ingest_rejected",
            "Ingest requests refused, by reason",
            metrics.ingest_rejected.clone(),
        );
        registry.register(
            "deliveries_processed",
            "Deliveries handled to completion",
            metrics.deliveries_processed.clone(),
        );
        registry.register(
            "deliveries_failed",
            "Delivery attempts that did not complete, by reason: the handler's own (fail, retry_later) or the trap or limit that stopped it (out_of_fuel, deadline, memory_limit, stack_overflow, trap, ...)",
            metrics.deliveries_failed.clone(),
        );
        registry.register(
            "deliveries_retried",
            "Delivery attempts scheduled to run again",
            metrics.deliveries_retried.clone(),
        );
        registry.register(
            "retries_in_place",
            "Of the retried attempts, those that waited in memory on the node that ran them instead of being scheduled in the store",
            metrics.retries_in_place.clone(),
        );
        registry.register(
            "deliveries_dead",
            "Deliveries given up on",
            metrics.deliveries_dead.clone(),
        );
        registry.register(
            "dead_letters_replayed",
            "Dead letters replayed by an operator",
            metrics.dead_letters_replayed.clone(),
        );
        registry.register(
            "state_conflicts",
            "Handler runs rerun because state they read changed before commit",
            metrics.state_conflicts.clone(),
        );
        registry.register(
            "queue_depth",
            "Deliveries not yet done or dead",
            metrics.queue_depth.clone(),
        );
        registry.register_with_unit(
            "oldest_ready_age",
            "How long the oldest ready delivery has waited for an instance slot",
            Unit::Seconds,
            metrics.oldest_ready_age.clone(),
        );
        registry.register(
            "instances_busy",
            "Plugin instance slots in use",
            metrics.instances_busy.clone(),
        );
        registry.register(
            "concurrency_limit",
            "Deliveries a plugin may run at once now, adapted to its latency",
            metrics.concurrency_limit.clone(),
        );
        registry.register(
            "breaker_trips",
            "Times one of a plugin's circuit breakers (one per route and tenant) opened, by the signal that opened it (trap, deadline, out_of_fuel, outbound, retry_later, ...)",
            metrics.breaker_trips.clone(),
        );
        registry.register(
            "plugin_paused",
            "1 while an operator has paused the plugin",
            metrics.plugin_paused.clone(),
        );
        registry.register(
            "plugin_reloads",
            "Changes to plugin files seen while weir runs, by result (loaded, rejected, removed)",
            metrics.plugin_reloads.clone(),
        );
        registry.register(
            "route_reloads",
            "Changes to the config file's routing table, by result (loaded, rejected)",
            metrics.route_reloads.clone(),
        );
        registry.register_with_unit(
            "handler_duration",
            "Time in the handler, instantiation included",
            Unit::Seconds,
            metrics.handler_duration.clone(),
        );
        registry.register(
            "fuel_consumed",
            "Fuel burned by handlers",
            metrics.fuel_consumed.clone(),
        );
        registry.register_with_unit(
            "event_latency",
            "Time from an event's ingest to the commit of a plugin's result for it",
            Unit::Seconds,
            metrics.event_latency.clone(),
        );
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by route template, method and status",
            Unit::Seconds,
            metrics.http_request_duration.clone(),
        );
        registry.register(
            "tenant_queue_depth",
            "Deliveries not yet done or dead, per tenant (with [metrics] tenant_series only; tenants past it are _other)",
            metrics.tenant_queue_depth.clone(),
        );
        registry.register(
            "group_commit_events",
            "Events per group commit",
            metrics.group_commit_events.clone(),
        );
        registry.register_with_unit(
            "fsync_duration",
            "Time to write and fsync one group commit",
            Unit::Seconds,
            metrics.fsync_duration.clone(),
        );
        registry.register(
            "events_kept_past_retention",
            "Events past the retention still kept for their pending deliveries (embedded store)",
            metrics.events_kept_past_retention.clone(),
        );
        let metrics = Metrics {
            registry,
            ..metrics
        };
        metrics.known_at_start();
        metrics
    }

    /// Records one run of a handler of the plugin `label`: how long it took
    /// and the fuel it burned.
    pub fn handler_ran(&self, label: &PluginLabel, execution: &crate::runtime::Execution) {
        self.handler_duration
            .get_or_create(label)
            .observe(execution.duration.as_secs_f64());
        self.fuel_consumed
            .get_or_create(label)
            .inc_by(execution.fuel_consumed);
    }

    /// Shows `plugin`'s breaker trips at zero for every reason, so that a rate
    /// or an alert on them has a series before the first trip.
    pub fn breakers_registered(&self, plugin: &str) {
        for reason in crate::schedule::breaker_reasons() {
            // Creating the series is the point: the guard is dropped at once.
            drop(self.breaker_trips.get_or_create(&FailureLabels {
                plugin: plugin.to_owned(),
                reason: reason.to_owned(),
            }));
        }
    }

    /// Counts a trip of one of `plugin`'s breakers for `reason`.
    pub fn breaker_tripped(&self, plugin: &str, reason: &str) {
        self.breaker_trips
            .get_or_create(&FailureLabels {
                plugin: plugin.to_owned(),
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The metrics with a sample in every family: prometheus-client leaves
    /// a family with no labelled child out of the exposition.
    fn every_family_sampled() -> Metrics {
        let metrics = Metrics::new();
        let plugin = plugin("p");
        let failure = FailureLabels {
            plugin: "p".into(),
            reason: "trap".into(),
        };
        metrics.events_ingested.inc();
        metrics
            .ingest_rejected
            .get_or_create(&ReasonLabel { reason: "r".into() })
            .inc();
        for counter in [
            &metrics.deliveries_processed,
            &metrics.deliveries_retried,
            &metrics.deliveries_dead,
            &metrics.dead_letters_replayed,
            &metrics.state_conflicts,
            &metrics.fuel_consumed,
        ] {
            counter.get_or_create(&plugin).inc();
        }
        metrics.deliveries_failed.get_or_create(&failure).inc();
        metrics.breaker_trips.get_or_create(&failure).inc();
        for gauge in [
            &metrics.queue_depth,
            &metrics.concurrency_limit,
            &metrics.plugin_paused,
            &metrics.instances_busy,
        ] {
            gauge.get_or_create(&plugin).set(1);
        }
        metrics.oldest_ready_age.get_or_create(&plugin).set(1.0);
        let reload = ReloadLabels {
            plugin: "p".into(),
            result: "loaded".into(),
        };
        metrics.plugin_reloads.get_or_create(&reload).inc();
        let result = ResultLabel {
            result: "loaded".into(),
        };
        metrics.route_reloads.get_or_create(&result).inc();
        metrics.handler_duration.get_or_create(&plugin).observe(0.1);
        metrics.event_latency.get_or_create(&plugin).observe(0.1);
        let http = HttpLabels {
            route: "/".into(),
            method: "GET".into(),
            status: 200,
        };
        metrics
            .http_request_duration
            .get_or_create(&http)
            .observe(0.1);
        let tenant = TenantLabel { tenant: "t".into() };
        metrics.tenant_queue_depth.get_or_create(&tenant).set(1);
        metrics
    }

    /// The `weir_` metric names in a PromQL expression.
    fn metric_names(expr: &str) -> impl Iterator<Item = &str> {
        expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|word| word.starts_with("weir_"))
    }

    #[test]
    fn every_metric_the_grafana_dashboard_queries_is_exported() {
        let exposed = exposition::classic_text(&every_family_sampled().encode());
        let dashboard = include_str!("../../../deploy/grafana/weir.json");
        let dashboard: serde_json::Value = serde_json::from_str(dashboard).expect("JSON");
        let mut checked = 0;
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("expr");
                for name in metric_names(expr) {
                    let sampled = exposed.lines().any(|line| {
                        line.strip_prefix(name)
                            .is_some_and(|rest| rest.starts_with(['{', ' ']))
                    });
                    assert!(sampled, "{name} (in {expr}) is not a metric weir exports");
                    checked += 1;
                }
            }
        }
        assert!(checked >= 20, "only {checked} names found");
    }
}
