//! `GET /v1/events/{id}`: an event, its deliveries and their results
//! (`?tenant=` and `?source=` pick one of several events with that id).

use axum::Json;
use axum::extract::State;

use super::extract::{Path, Query};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::event_ref;
use super::{ApiError, AppState, Caller, ErrorBody};
use crate::event::Event;
use crate::event::is_json;

/// The query parameters that narrow an event id shared by several events.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// The event's tenant.
    tenant: Option<String>,
    /// The event's source.
    source: Option<String>,
}

/// The handler.
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    summary = "Read an event with its deliveries",
    params(("id" = String, Path, description = "The event id"), EventQuery),
    responses(
        (status = 200, description = "The event, its `sequence`, `ingested_at` and `deliveries` (state, attempts, history, result or error)", body = Object),
        (status = 404, description = "No event the caller may see has the id", body = ErrorBody),
        (status = 409, description = "Several events have the id: `ambiguous_event_id`", body = ErrorBody),
        (status = 501, description = "The node runs on NATS, which has no form of this yet: `not_on_this_backend`", body = ErrorBody),
    ),
)]
pub async fn get_event(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<EventQuery>,
) -> Result<Json<Value>, ApiError> {
    app.require_fjall("GET /v1/events/{id}")?;
    let queue = &app.pipeline.queue;
    let seq = event_ref::resolve(
        &app,
        &caller,
        &id,
        query.tenant.as_deref(),
        query.source.as_deref(),
    )?;
    let event = queue
        .event(seq)?
        .ok_or_else(|| ApiError::NotFound(format!("no event with id {id:?}")))?;
    let deliveries = queue.deliveries_of(seq)?;

    let mut view = serde_json::to_value(&event).map_err(|_| ApiError::Internal)?;
    if let Value::Object(fields) = &mut view {
        fields.remove("ingested_at_ms");
        fields.insert("sequence".into(), json!(seq));
        fields.insert(
            "ingested_at".into(),
            json!(super::rfc3339(event.ingested_at_ms)),
        );
        let (name, data) = data_view(&event);
        if let Some(data) = data {
            fields.insert(name.into(), data);
        }
        fields.insert(
            "deliveries".into(),
            serde_json::to_value(&deliveries).map_err(|_| ApiError::Internal)?,
        );
    }
    Ok(Json(view))
}

/// `data` as JSON when it is JSON, as text when it is UTF-8, else `data_base64`.
fn data_view(event: &Event) -> (&'static str, Option<Value>) {
    if event.data.is_empty() {
        return ("data", None);
    }
    if event.datacontenttype.as_deref().is_some_and(is_json)
        && let Ok(value) = serde_json::from_slice(&event.data)
    {
        return ("data", Some(value));
    }
    match std::str::from_utf8(&event.data) {
        Ok(text) => ("data", Some(Value::String(text.to_owned()))),
        Err(_) => (
            "data_base64",
            Some(Value::String(
                base64::engine::general_purpose::STANDARD.encode(&event.data),
            )),
        ),
    }
}
