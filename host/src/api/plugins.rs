//! A plugin's pause and resume, and `GET /v1/plugins/{name}/state`
//! (the listing is `plugin_listing.rs`).

use axum::Json;
use axum::extract::State;

use super::extract::{Path, Query};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState, Caller, ErrorBody};
use crate::backend::StatePage;

/// Most state entries one request returns.
const MAX_STATE_ENTRIES: usize = 1000;

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
    let registry = &app.shared.plugins;
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
    registry.set_paused(&name, paused, &app.shared.metrics);
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
    if app.shared.plugins.get(&name).is_none() {
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
