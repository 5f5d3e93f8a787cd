//! `GET /v1/plugins` and `GET /v1/plugins/{name}/state`.

use axum::Json;
use axum::extract::State;

use super::extract::{Path, Query};
use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState, Caller, ErrorBody};
use crate::backend::StatePage;
use crate::event::now_ms;
use crate::metrics::Metrics;
use crate::plugins::{Plugin, Rejection};

/// Most state entries one request returns.
const MAX_STATE_ENTRIES: usize = 1000;

/// Every plugin: the version serving, its limits and state, its open circuit
/// breakers, the last file a reload turned down, and since when a new
/// version is compiling; a name
/// whose only file was turned down shows as `rejected`, one whose first
/// version is compiling as `loading`.
#[utoipa::path(
    get,
    path = "/v1/plugins",
    tag = "plugins",
    summary = "List plugins",
    responses((status = 200, description = "`plugins`: each one's version, limits, state, counts and the circuit breakers that are not closed (route, tenant, reason, rate, until when)", body = Object)),
)]
pub async fn list_plugins(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    caller.require_admin()?;
    let registry = &app.pipeline.plugins;
    let mut rejections = registry.rejections();
    let mut compiling = registry.being_compiled();
    let loading_since = |compiling: &mut BTreeMap<String, u64>, name: &str| {
        compiling.remove(name).map(super::rfc3339)
    };
    let mut plugins: Vec<Value> = registry
        .all()
        .iter()
        .map(|plugin| {
            let mut shown = describe(plugin, &app.pipeline.metrics);
            shown["rejected"] = rejections
                .remove(&*plugin.name)
                .map_or(Value::Null, |rejection| describe_rejection(&rejection));
            shown["loading_since"] = json!(loading_since(&mut compiling, &plugin.name));
            shown
        })
        .collect();
    let paused = app.pipeline.plugins.paused();
    let not_serving = |name: &str, state: &str, rejected: Value, since: Option<String>| {
        let mut shown = NOT_SERVING.clone();
        shown["name"] = json!(name);
        shown["state"] = json!(state);
        shown["rejected"] = rejected;
        shown["loading_since"] = json!(since);
        shown["paused"] = json!(paused.contains(name));
        shown
    };
    plugins.extend(rejections.iter().map(|(name, rejection)| {
        let since = loading_since(&mut compiling, name);
        not_serving(name, "rejected", describe_rejection(rejection), since)
    }));
    // A new plugin's first compilation (seconds for Python or JavaScript):
    // its deliveries wait in the queue until it serves.
    plugins.extend(compiling.iter().map(|(name, since)| {
        not_serving(name, "loading", Value::Null, Some(super::rfc3339(*since)))
    }));
    // Under the NATS backend each node answers for itself: its name says which.
    let node = app.backend.node();
    Ok(Json(json!({ "node": node, "plugins": plugins })))
}

/// The keys of a plugin with no version serving (`rejected` or `loading`):
/// those of a serving one, so a client reads one shape, with nothing yet
/// to say in most.
static NOT_SERVING: std::sync::LazyLock<Value> = std::sync::LazyLock::new(|| {
    json!({
        "name": null, "state": null, "version": null, "loaded_at": null, "size_bytes": null,
        "instances": null, "instances_free": null, "fuel": null, "memory_bytes": null,
        "deadline_ms": null, "max_attempts": null, "http": [], "requested_http": [],
        "paused": false, "breaker": null, "breakers": [], "concurrency_limit": null,
        "deliveries": null, "rejected": null, "loading_since": null,
    })
});

fn describe(plugin: &Plugin, metrics: &Metrics) -> Value {
    let version = plugin.current();
    let limits = &version.limits;
    let gate = *plugin.gate.borrow();
    let breakers = describe_breakers(plugin);
    let state = match (gate.removed, gate.paused) {
        (true, _) => "removed",
        (false, true) => "paused",
        (false, false) => "serving",
    };
    json!({
        "name": &*plugin.name,
        "state": state,
        "version": &*version.id,
        "loaded_at": super::rfc3339(version.loaded_at_ms),
        "size_bytes": version.size_bytes,
        "instances": plugin.instances,
        "instances_free": plugin.slots.available_permits(),
        "fuel": limits.fuel,
        "memory_bytes": limits.memory_bytes,
        "deadline_ms": limits.deadline.as_millis() as u64,
        "max_attempts": limits.max_attempts,
        // Granted by weir.toml, and requested by the manifest beyond that.
        "http": version.capabilities.http.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "requested_http": version
            .capabilities
            .requested_http
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        "paused": gate.paused,
        "breaker": breaker_summary(&breakers),
        "breakers": breakers,
        "concurrency_limit": plugin.concurrency.current(),
        "deliveries": metrics.delivery_counts(&plugin.name),
    })
}

/// The breakers of `plugin` that are not closed: for which route and
/// tenant, why (the signal and its rate over how many calls) and until when.
fn describe_breakers(plugin: &Plugin) -> Vec<Value> {
    let now = Instant::now();
    plugin
        .breakers
        .not_closed()
        .into_iter()
        .filter_map(|(scope, status)| {
            let trip = status.trip?;
            let until_ms = now_ms() + trip.until.saturating_duration_since(now).as_millis() as u64;
            Some(json!({
                "route": scope.route,
                "tenant": scope.tenant,
                "state": status.state.as_str(),
                "reason": trip.reason,
                "rate": trip.rate,
                "calls": trip.calls,
                "failed_probe": trip.probe,
                "open_until": super::rfc3339(until_ms),
            }))
        })
        .collect()
}

/// `open` if any of the breakers is, else `half_open` if any is, else `closed`.
fn breaker_summary(breakers: &[Value]) -> &'static str {
    let any = |state: &str| breakers.iter().any(|breaker| breaker["state"] == state);
    if any("open") {
        "open"
    } else if any("half_open") {
        "half_open"
    } else {
        "closed"
    }
}

fn describe_rejection(rejection: &Rejection) -> Value {
    json!({
        "version": rejection.version,
        "reason": rejection.reason,
        "at": super::rfc3339(rejection.at_ms),
    })
}

/// `POST /v1/plugins/{name}/pause`: stop leasing its deliveries (those running
/// finish); they wait in the queue, and ingest keeps accepting until the
/// backlog's high-water mark. The pause survives a restart.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/pause",
    tag = "plugins",
    summary = "Pause a plugin",
    params(("name" = String, Path, description = "The plugin")),
    responses(
        (status = 200, description = "The plugin is paused", body = PluginPause),
        (status = 404, description = "No such plugin", body = ErrorBody),
    ),
)]
pub async fn pause(
    state: State<AppState>,
    caller: Caller,
    name: Path<String>,
) -> Result<Json<PluginPause>, ApiError> {
    caller.require_admin()?;
    set_paused(state, name, true).await
}

/// `POST /v1/plugins/{name}/resume`.
#[utoipa::path(
    post,
    path = "/v1/plugins/{name}/resume",
    tag = "plugins",
    summary = "Resume a paused plugin",
    params(("name" = String, Path, description = "The plugin")),
    responses(
        (status = 200, description = "The plugin runs again", body = PluginPause),
        (status = 404, description = "No such plugin", body = ErrorBody),
    ),
)]
pub async fn resume(
    state: State<AppState>,
    caller: Caller,
    name: Path<String>,
) -> Result<Json<PluginPause>, ApiError> {
    caller.require_admin()?;
    set_paused(state, name, false).await
}

async fn set_paused(
    State(app): State<AppState>,
    Path(name): Path<String>,
    paused: bool,
) -> Result<Json<PluginPause>, ApiError> {
    let registry = &app.pipeline.plugins;
    let plugin = registry.get(&name);
    // One still loading (or only rejected so far) can be paused before it
    // first runs: the stored pause applies when it loads.
    let known = plugin.is_some()
        || registry.being_compiled().contains_key(&name)
        || registry.rejections().contains_key(&name);
    if !known {
        return Err(ApiError::NotFound(format!("no plugin named {name:?}")));
    }
    app.backend.set_plugin_paused(&name, paused).await?;
    registry.set_paused(&name, paused, &app.pipeline.metrics);
    tracing::warn!(plugin = %name, paused, "plugin paused or resumed by an operator");
    Ok(Json(PluginPause { name, paused }))
}

/// The answer to a pause or resume of a plugin.
#[derive(Debug, Serialize, ToSchema)]
pub struct PluginPause {
    /// The plugin.
    pub name: String,
    /// Whether it is paused now.
    pub paused: bool,
}

/// Query of the state listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// Whose state (default: the caller's tenant, or `default`).
    tenant: Option<String>,
    /// Entries per page (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Start after this key: the `next_after` of the previous page.
    after: Option<String>,
}

/// One plugin's state for one tenant, in key order, a page at a time.
#[utoipa::path(
    get,
    path = "/v1/plugins/{name}/state",
    tag = "plugins",
    summary = "Read a plugin's state for a tenant",
    params(("name" = String, Path, description = "The plugin"), StateQuery),
    responses(
        (status = 200, description = "The entries in key order, and where the next page starts", body = StateListing),
        (status = 404, description = "No such plugin", body = ErrorBody),
    ),
)]
pub async fn plugin_state(
    State(app): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    Query(query): Query<StateQuery>,
) -> Result<Json<StateListing>, ApiError> {
    // The tenant first: another tenant's token learns nothing, not even
    // which plugins exist.
    let tenant = query
        .tenant
        .unwrap_or_else(|| caller.default_tenant().to_owned());
    caller.require_tenant(&tenant)?;
    if app.pipeline.plugins.get(&name).is_none() {
        return Err(ApiError::NotFound(format!("no plugin named {name:?}")));
    }
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_STATE_ENTRIES {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_STATE_ENTRIES}"
        )));
    }
    let entries = app
        .backend
        .state_entries(StatePage {
            plugin: name.clone(),
            tenant: tenant.clone(),
            after: query.after,
            limit,
        })
        .await?;
    let entries: Vec<StateEntry> = entries
        .into_iter()
        .map(|(key, bytes)| {
            let value = serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            StateEntry { key, value }
        })
        .collect();
    // A full page may have a next one; an empty `next_after` means this was the last.
    let next_after = (entries.len() == limit)
        .then(|| entries.last().map(|entry| entry.key.clone()))
        .flatten();
    Ok(Json(StateListing {
        plugin: name,
        tenant,
        entries,
        next_after,
    }))
}

/// A page of one plugin's state for one tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateListing {
    /// The plugin.
    pub plugin: String,
    /// The tenant.
    pub tenant: String,
    /// The entries, in key order.
    pub entries: Vec<StateEntry>,
    /// The `after` of the next page; null on the last.
    pub next_after: Option<String>,
}

/// One key of plugin state.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateEntry {
    /// The key.
    pub key: String,
    /// The value: JSON as stored, or a string if it is not JSON.
    pub value: Value,
}
