//! The dead letters: list them (`GET /v1/dead-letters`), replay one event's
//! (`POST /v1/dead-letters/{id}/replay`) or every match of a filter
//! (`POST /v1/dead-letters/replay`), discard one event's
//! (`DELETE /v1/dead-letters/{id}`).
//!
//! A replayed delivery is ready again with a fresh round of attempts and its
//! history kept. It runs as soon as a slot is free, ahead of any ordering-key
//! line it once stood in: replaying is an operator's decision.

use axum::Json;
use axum::extract::{Path, Query, State};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};
use crate::metrics::plugin as plugin_label;
use crate::queue::{DeadFilter, DeadLetter, Seq};

/// Default and largest page of `GET /v1/dead-letters`.
const PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Default and largest number of deliveries one bulk replay revives.
const BULK: usize = 1000;
const MAX_BULK: usize = 10_000;

const CURSOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Filter and paging of the listing and the bulk replay.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadQuery {
    plugin: Option<String>,
    tenant: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl DeadQuery {
    /// The filter, confined to the caller's tenant.
    fn filter(&self, caller: &Caller) -> Result<DeadFilter, ApiError> {
        if let Some(tenant) = &self.tenant {
            caller.require_tenant(tenant)?;
        }
        Ok(DeadFilter {
            plugin: self.plugin.clone(),
            tenant: caller
                .own_tenant()
                .map(str::to_owned)
                .or_else(|| self.tenant.clone()),
            kind: self.kind.clone(),
        })
    }

    fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        let limit = self.limit.unwrap_or(default);
        if limit == 0 || limit > max {
            return Err(ApiError::BadRequest(format!("limit must be 1 to {max}")));
        }
        Ok(limit)
    }

    fn cursor(&self) -> Result<Option<Vec<u8>>, ApiError> {
        self.cursor
            .as_deref()
            .map(|cursor| {
                CURSOR.decode(cursor).map_err(|_| {
                    ApiError::BadRequest("cursor is not one this API handed out".into())
                })
            })
            .transpose()
    }
}

/// Which plugin's delivery of one event an operation is about (all if none).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginQuery {
    plugin: Option<String>,
}

/// `GET /v1/dead-letters`.
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<DeadQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit(PAGE, MAX_PAGE)?;
    let page = app.pipeline.queue.dead_letters(
        &query.filter(&caller)?,
        query.cursor()?.as_deref(),
        limit,
    )?;
    let letters: Vec<Value> = page.letters.iter().map(view).collect();
    Ok(Json(json!({
        "dead_letters": letters,
        "next_cursor": page.next.map(|key| CURSOR.encode(key)),
    })))
}

/// `POST /v1/dead-letters/replay`: revives up to `limit` matches; call again
/// while `more` is true.
pub async fn replay_matching(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<DeadQuery>,
) -> Result<Json<Value>, ApiError> {
    if query.cursor.is_some() {
        return Err(ApiError::BadRequest(
            "a bulk replay takes no cursor: replayed letters leave the list".into(),
        ));
    }
    let limit = query.limit(BULK, MAX_BULK)?;
    let pipeline = &app.pipeline;
    let page = pipeline
        .queue
        .dead_letters(&query.filter(&caller)?, None, limit)?;
    let targets: Vec<(Seq, String)> = page
        .letters
        .into_iter()
        .map(|letter| (letter.seq, letter.record.plugin))
        .collect();
    let replayed = revive(&app, &targets)?;
    Ok(Json(
        json!({ "replayed": replayed.len(), "more": page.next.is_some() }),
    ))
}

/// `POST /v1/dead-letters/{id}/replay`.
pub async fn replay_event(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PluginQuery>,
) -> Result<Json<Value>, ApiError> {
    let (seq, plugins) = dead_of_event(&app, &caller, &id, query.plugin.as_deref())?;
    let targets: Vec<(Seq, String)> = plugins.into_iter().map(|p| (seq, p)).collect();
    let replayed = revive(&app, &targets)?;
    Ok(Json(json!({ "id": id, "replayed": replayed })))
}

/// `DELETE /v1/dead-letters/{id}`.
pub async fn discard_event(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<PluginQuery>,
) -> Result<Json<Value>, ApiError> {
    let (seq, plugins) = dead_of_event(&app, &caller, &id, query.plugin.as_deref())?;
    let mut staging = app.pipeline.queue.stage();
    let mut discarded = Vec::new();
    for plugin in plugins {
        if staging.discard(seq, &plugin)? {
            discarded.push(plugin);
        }
    }
    app.pipeline.commit(staging)?;
    Ok(Json(json!({ "id": id, "discarded": discarded })))
}

/// The event's sequence number and the plugins its dead deliveries go to; 404
/// if there are none.
fn dead_of_event(
    app: &AppState,
    caller: &Caller,
    id: &str,
    plugin: Option<&str>,
) -> Result<(Seq, Vec<String>), ApiError> {
    let queue = &app.pipeline.queue;
    let not_found = || ApiError::NotFound(format!("no event with id {id:?}"));
    let seq = queue.seq_of(id)?.ok_or_else(not_found)?;
    if caller.own_tenant().is_some() {
        let event = queue.event(seq)?.ok_or_else(not_found)?;
        caller.require_tenant(&event.tenant)?;
    }
    let plugins: Vec<String> = queue
        .dead_of(seq, plugin)?
        .into_iter()
        .map(|record| record.plugin)
        .collect();
    if plugins.is_empty() {
        let whose = plugin.map(|p| format!(" to {p}")).unwrap_or_default();
        return Err(ApiError::NotFound(format!(
            "event {id:?} has no dead delivery{whose}"
        )));
    }
    Ok((seq, plugins))
}

/// Revives `targets` in one batch; returns the plugins of those that were dead.
fn revive(app: &AppState, targets: &[(Seq, String)]) -> Result<Vec<String>, ApiError> {
    let pipeline = &app.pipeline;
    let mut staging = pipeline.queue.stage();
    let mut revived = Vec::new();
    for (seq, plugin) in targets {
        if staging.revive(*seq, plugin)? {
            revived.push(plugin.clone());
        }
    }
    pipeline.commit(staging)?;
    for plugin in &revived {
        let label = plugin_label(plugin);
        pipeline
            .metrics
            .dead_letters_replayed
            .get_or_create(&label)
            .inc();
    }
    Ok(revived)
}

fn view(letter: &DeadLetter) -> Value {
    let event = &letter.event;
    json!({
        "id": event.id,
        "sequence": letter.seq,
        "plugin": letter.record.plugin,
        "tenant": event.tenant,
        "type": event.kind,
        "source": event.source,
        "attempts": letter.record.attempts,
        "replays": letter.record.replays,
        "error": letter.record.error,
        "history": letter.record.history,
    })
}
