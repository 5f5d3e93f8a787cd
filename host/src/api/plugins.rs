//! `GET /v1/plugins` and `GET /v1/plugins/{name}/state`.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::event::DEFAULT_TENANT;
use crate::queue::PauseScope;

/// Most state entries one request returns.
const MAX_STATE_ENTRIES: usize = 1000;

/// The loaded plugins and their limits.
pub async fn list_plugins(State(app): State<AppState>) -> Json<Value> {
    let plugins: Vec<Value> = app
        .plugins
        .values()
        .map(|plugin| {
            let limits = &plugin.limits;
            json!({
                "name": &*plugin.name,
                "version": plugin.version,
                "loaded_at": super::rfc3339(plugin.loaded_at_ms),
                "size_bytes": plugin.size_bytes,
                "instances": limits.instances,
                "instances_free": plugin.slots.available_permits(),
                "fuel": limits.fuel,
                "memory_bytes": limits.memory_bytes,
                "deadline_ms": limits.deadline.as_millis() as u64,
                "max_attempts": limits.max_attempts,
                "paused": *plugin.paused.borrow(),
                "breaker": plugin.breaker.state().as_str(),
                "route_breakers": plugin
                    .route_breakers
                    .states()
                    .into_iter()
                    .map(|(route, state)| (route, Value::from(state.as_str())))
                    .collect::<serde_json::Map<String, Value>>(),
                "concurrency_limit": plugin.concurrency.current(),
            })
        })
        .collect();
    Json(json!({ "plugins": plugins }))
}

/// `POST /v1/plugins/{name}/pause`: stop leasing its deliveries (those running
/// finish); they wait in the queue, and ingest keeps accepting until the
/// backlog's high-water mark. The pause survives a restart.
pub async fn pause(state: State<AppState>, name: Path<String>) -> Result<Json<Value>, ApiError> {
    set_paused(state, name, true)
}

/// `POST /v1/plugins/{name}/resume`.
pub async fn resume(state: State<AppState>, name: Path<String>) -> Result<Json<Value>, ApiError> {
    set_paused(state, name, false)
}

fn set_paused(
    State(app): State<AppState>,
    Path(name): Path<String>,
    paused: bool,
) -> Result<Json<Value>, ApiError> {
    let plugin = app
        .plugins
        .get(&name)
        .ok_or_else(|| ApiError::NotFound(format!("no plugin named {name:?}")))?;
    app.pipeline
        .queue
        .set_paused(PauseScope::Plugin, &name, paused)?;
    plugin.set_paused(paused, &app.pipeline.metrics);
    tracing::warn!(plugin = %name, paused, "plugin paused or resumed by an operator");
    Ok(Json(json!({ "name": name, "paused": paused })))
}

/// Query of the state listing.
#[derive(Debug, Deserialize)]
pub struct StateQuery {
    tenant: Option<String>,
    limit: Option<usize>,
    /// Start after this key: the `next_after` of the previous page.
    after: Option<String>,
}

/// One plugin's state for one tenant, in key order, a page at a time.
pub async fn plugin_state(
    State(app): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<StateQuery>,
) -> Result<Json<Value>, ApiError> {
    if !app.plugins.contains_key(&name) {
        return Err(ApiError::NotFound(format!("no plugin named {name:?}")));
    }
    let tenant = query.tenant.unwrap_or_else(|| DEFAULT_TENANT.to_owned());
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_STATE_ENTRIES {
        return Err(ApiError::BadRequest(format!(
            "limit must be 1 to {MAX_STATE_ENTRIES}"
        )));
    }
    let entries: Vec<Value> = app
        .pipeline
        .queue
        .state_entries(&name, &tenant, query.after.as_deref(), limit)?
        .into_iter()
        .map(|(key, bytes)| {
            let value = serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
            json!({ "key": key, "value": value })
        })
        .collect();
    // A full page may have a next one; an empty `next_after` means this was the last.
    let next_after = (entries.len() == limit)
        .then(|| entries.last().map(|entry| entry["key"].clone()))
        .flatten();
    Ok(Json(
        json!({ "plugin": name, "tenant": tenant, "entries": entries, "next_after": next_after }),
    ))
}
