//! `GET /v1/plugins`: every plugin, the version serving, its limits and
//! state, its circuit breakers that are not closed, the last file a reload
//! turned down, and since when a new version is compiling.

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiError, AppState, Caller};
use crate::event::now_ms;
use crate::metrics::Metrics;
use crate::plugins::{Plugin, Rejection};

/// Every plugin; a name whose only file was turned down shows as
/// `rejected`, one whose first version is compiling as `loading`.
#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    summary = "List plugins",
    responses((status = 200, description = "`plugins`: each one's version, limits, state, counts and the circuit breakers that are not closed (route, tenant, reason, rate, until when)", body = PluginListing)),
)]
pub async fn list_plugins(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<PluginListing>, ApiError> {
    caller.require_admin()?;
    let registry = &app.shared.plugins;
    let mut rejections = registry.rejections();
    let mut compiling = registry.being_compiled();
    let loading_since = |compiling: &mut BTreeMap<String, u64>, name: &str| {
        compiling.remove(name).map(super::rfc3339)
    };
    let mut plugins: Vec<PluginView> = registry
        .all()
        .iter()
        .map(|plugin| {
            let mut shown = PluginView::serving(plugin, &app.shared.metrics);
            shown.rejected = rejections.remove(&*plugin.name).map(RejectionView::of);
            shown.loading_since = loading_since(&mut compiling, &plugin.name);
            shown
        })
        .collect();
    let paused = app.shared.plugins.paused();
    let not_serving = |name: &str, state: &'static str| PluginView {
        paused: paused.contains(name),
        ..PluginView::not_serving(name, state)
    };
    plugins.extend(rejections.iter().map(|(name, rejection)| PluginView {
        rejected: Some(RejectionView::of(rejection.clone())),
        loading_since: loading_since(&mut compiling, name),
        ..not_serving(name, "rejected")
    }));
    // A new plugin's first compilation (seconds for Python or JavaScript):
    // its deliveries wait in the queue until it serves.
    plugins.extend(compiling.iter().map(|(name, since)| PluginView {
        loading_since: Some(super::rfc3339(*since)),
        ..not_serving(name, "loading")
    }));
    // Under the NATS backend each node answers for itself: its name says which.
    let node = app.backend.node().map(str::to_owned);
    Ok(Json(PluginListing { node, plugins }))
}

/// The answer: this node's plugins.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginListing {
    /// This node's name, where several nodes share the store (NATS).
    node: Option<String>,
    /// Every plugin, by name.
    plugins: Vec<PluginView>,
}

/// One plugin. A plugin with no version serving (`rejected` or `loading`)
/// has the same keys, most of them null, so a client reads one shape.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginView {
    name: String,
    /// `serving`, `paused`, `removed`, `rejected` or `loading`.
    state: &'static str,
    /// The version serving.
    version: Option<String>,
    /// When it was loaded (RFC 3339).
    loaded_at: Option<String>,
    /// The component's size.
    size_bytes: Option<u64>,
    /// Instance slots.
    instances: Option<u32>,
    /// Instance slots free now.
    instances_free: Option<usize>,
    /// Fuel per delivery.
    fuel: Option<u64>,
    /// Linear memory per instance.
    memory_bytes: Option<usize>,
    /// Wall-clock limit per delivery.
    deadline_ms: Option<u64>,
    /// Attempts before a delivery is dead.
    max_attempts: Option<u32>,
    /// Hosts weir.toml grants it over HTTP.
    http: Vec<String>,
    /// Hosts its manifest asks for beyond those.
    requested_http: Vec<String>,
    /// Whether an operator paused it.
    paused: bool,
    /// `open` if any breaker is, else `half_open` if any is, else `closed`.
    breaker: Option<&'static str>,
    /// Its circuit breakers that are not closed.
    breakers: Vec<BreakerView>,
    /// Instances it may use now (the adaptive limit).
    concurrency_limit: Option<u32>,
    /// Its delivery totals: `processed`, `failed` by reason, `retried`, `dead`.
    deliveries: Option<crate::metrics::counts::DeliveryCounts>,
    /// The last file a reload turned down.
    rejected: Option<RejectionView>,
    /// Since when a new version is compiling (RFC 3339).
    loading_since: Option<String>,
}

impl PluginView {
    fn serving(plugin: &Plugin, metrics: &Metrics) -> PluginView {
        let version = plugin.current();
        let limits = &version.limits;
        let gate = *plugin.gate.borrow();
        let breakers = BreakerView::all(plugin);
        let state = match (gate.removed, gate.paused) {
            (true, _) => "removed",
            (false, true) => "paused",
            (false, false) => "serving",
        };
        let hosts = |hosts: &[_]| hosts.iter().map(ToString::to_string).collect();
        PluginView {
            name: plugin.name.to_string(),
            state,
            version: Some(version.id.to_string()),
            loaded_at: Some(super::rfc3339(version.loaded_at_ms)),
            size_bytes: Some(version.size_bytes),
            instances: Some(plugin.instances),
            instances_free: Some(plugin.slots.available_permits()),
            fuel: Some(limits.fuel),
            memory_bytes: Some(limits.memory_bytes),
            deadline_ms: Some(limits.deadline.as_millis() as u64),
            max_attempts: Some(limits.max_attempts),
            // Granted by weir.toml, and requested by the manifest beyond that.
            http: hosts(&version.capabilities.http),
            requested_http: hosts(&version.capabilities.requested_http),
            paused: gate.paused,
            breaker: Some(breaker_summary(&breakers)),
            breakers,
            concurrency_limit: Some(plugin.concurrency.current()),
            deliveries: Some(metrics.delivery_counts(&plugin.name)),
            rejected: None,
            loading_since: None,
        }
    }

    fn not_serving(name: &str, state: &'static str) -> PluginView {
        PluginView {
            name: name.to_owned(),
            state,
            version: None,
            loaded_at: None,
            size_bytes: None,
            instances: None,
            instances_free: None,
            fuel: None,
            memory_bytes: None,
            deadline_ms: None,
            max_attempts: None,
            http: Vec::new(),
            requested_http: Vec::new(),
            paused: false,
            breaker: None,
            breakers: Vec::new(),
            concurrency_limit: None,
            deliveries: None,
            rejected: None,
            loading_since: None,
        }
    }
}

/// A circuit breaker that is not closed: for which route and tenant, why
/// (the signal and its rate over how many calls) and until when.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakerView {
    /// The route (none: deliveries no route sends any more).
    route: Option<String>,
    tenant: String,
    /// `open` or `half_open`.
    state: &'static str,
    /// The signal that opened it (`trap`, `deadline`, `outbound`, `retry_later`, ...).
    reason: &'static str,
    /// Its share of the calls in the window.
    rate: f64,
    /// Calls in the window.
    calls: u32,
    /// Whether a failed probe opened it again.
    failed_probe: bool,
    /// Until when it stays open (RFC 3339).
    open_until: String,
}

impl BreakerView {
    fn all(plugin: &Plugin) -> Vec<BreakerView> {
        let now = Instant::now();
        plugin
            .breakers
            .not_closed()
            .into_iter()
            .filter_map(|(scope, status)| {
                let trip = status.trip?;
                let until_ms =
                    now_ms() + trip.until.saturating_duration_since(now).as_millis() as u64;
                Some(BreakerView {
                    route: scope.route,
                    tenant: scope.tenant,
                    state: status.state.as_str(),
                    reason: trip.reason,
                    rate: trip.rate,
                    calls: trip.calls,
                    failed_probe: trip.probe,
                    open_until: super::rfc3339(until_ms),
                })
            })
            .collect()
    }
}

/// `open` if any of the breakers is, else `half_open` if any is, else `closed`.
fn breaker_summary(breakers: &[BreakerView]) -> &'static str {
    let any = |state: &str| breakers.iter().any(|breaker| breaker.state == state);
    if any("open") {
        "open"
    } else if any("half_open") {
        "half_open"
    } else {
        "closed"
    }
}

/// A plugin file a reload turned down.
#[derive(Debug, Serialize, ToSchema)]
pub struct RejectionView {
    /// The turned-down component's version.
    version: String,
    /// Why, naming the file.
    reason: String,
    /// When (RFC 3339).
    at: String,
}

impl RejectionView {
    fn of(rejection: Rejection) -> RejectionView {
        RejectionView {
            version: rejection.version,
            reason: rejection.reason,
            at: super::rfc3339(rejection.at_ms),
        }
    }
}
