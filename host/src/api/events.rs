//! `GET /v1/events/{id}`: an event, its deliveries and their results.

use axum::Json;
use axum::extract::{Path, State};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};
use crate::event::Event;
use crate::ingest::is_json;

/// The handler.
pub async fn get_event(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let queue = &app.pipeline.queue;
    let not_found = || ApiError::NotFound(format!("no event with id {id:?}"));
    let seq = queue.seq_of(&id)?.ok_or_else(not_found)?;
    let event = queue.event(seq)?.ok_or_else(not_found)?;
    caller.require_tenant(&event.tenant)?;
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
