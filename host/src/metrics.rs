//! Prometheus metrics (OpenMetrics text at `/metrics`).
//!
//! prometheus-client appends `_total` to counters and the unit to metrics
//! registered with one, so names here carry neither.

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

/// Labels naming a route and the plugin it sends to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route name.
    pub route: String,
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
    pub(crate) counts: crate::delivery_counts::CountsByPlugin,
    /// Events made durable.
    pub events_ingested: Counter,
    /// Ingest requests refused, by error code.
    pub ingest_rejected: Family<ReasonLabel, Counter>,
    /// Deliveries handled to completion (ack or emit).
    pub deliveries_processed: Family<PluginLabel, Counter>,
    /// Attempts that did not complete, by reason.
    pub deliveries_failed: Family<FailureLabels, Counter>,
    /// Attempts scheduled to run again.
    pub deliveries_retried: Family<PluginLabel, Counter>,
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
    /// Times a plugin's circuit breaker opened.
    pub breaker_trips: Family<PluginLabel, Counter>,
    /// Times a route's circuit breaker (for one plugin) opened.
    pub route_breaker_trips: Family<RouteLabels, Counter>,
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
    /// Events per group commit.
    pub group_commit_events: Histogram,
    /// Time to write and fsync one group commit.
    pub fsync_duration: Histogram,
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
            route_breaker_trips: Family::default(),
            concurrency_limit: Family::default(),
            handler_duration: Family::new_with_constructor(latency_histogram),
            fuel_consumed: Family::default(),
            group_commit_events: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            fsync_duration: latency_histogram(),
            registry: Registry::default(),
            counts: Default::default(),
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
            "Delivery attempts that did not complete, by reason",
            metrics.deliveries_failed.clone(),
        );
        registry.register(
            "deliveries_retried",
            "Delivery attempts scheduled to run again",
            metrics.deliveries_retried.clone(),
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
            "Times a plugin's circuit breaker opened",
            metrics.breaker_trips.clone(),
        );
        registry.register(
            "route_breaker_trips",
            "Times the circuit breaker of a route's deliveries to a plugin opened",
            metrics.route_breaker_trips.clone(),
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
        Metrics {
            registry,
            ..metrics
        }
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
