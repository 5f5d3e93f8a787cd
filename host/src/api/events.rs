//! `GET /v1/events/{id}`: an event, its deliveries and their results
//! (`?tenant=` and `?source=` pick one of several events with that id).

use axum::Json;
use axum::extract::State;

use super::extract::{Path, Query};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use super::event_ref;
use super::{ApiError, AppState, Caller, ErrorBody};
use crate::backend::StoredEvent;
use crate::event::Event;
use crate::event::{is_json, is_text};
use weir_core::store::DeliveryRecord;

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
        (status = 200, description = "The event in the CloudEvents JSON format (`specversion`, attributes, typed extensions, `data` or `data_base64`), its `sequence`, `ingested_at` and `deliveries` (state, attempts, history, result or error)", body = EventView),
        (status = 404, description = "No event the caller may see has the id", body = ErrorBody),
        (status = 409, description = "Several events have the id: `ambiguous_event_id`", body = ErrorBody),
    ),
)]
pub async fn get_event(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<EventQuery>,
) -> Result<Json<EventView>, ApiError> {
    let (tenant, source) = (query.tenant.as_deref(), query.source.as_deref());
    let named = event_ref::named(&caller, &id, tenant, source)?;
    let StoredEvent {
        sequence,
        event,
        deliveries,
    } = app.backend.event(named).await?;

    let Value::Object(mut attributes) =
        serde_json::to_value(&event).map_err(|_| ApiError::Internal)?
    else {
        return Err(ApiError::Internal);
    };
    attributes.remove("ingested_at_ms");
    Ok(Json(EventView {
        specversion: "1.0",
        attributes,
        sequence,
        ingested_at: super::rfc3339(event.ingested_at_ms),
        data: DataView::of(&event),
        deliveries,
    }))
}

/// The answer: the event in the CloudEvents JSON format (its attributes
/// and extensions, and `data` or `data_base64`), with weir's fields.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// Every event weir holds is CloudEvents 1.0.
    specversion: &'static str,
    /// The attributes and extensions, as `Event` serializes them.
    #[serde(flatten)]
    #[schema(additional_properties)]
    attributes: Map<String, Value>,
    /// Where the event is in the log.
    sequence: u64,
    /// When weir made it durable (RFC 3339).
    ingested_at: String,
    /// `data` or `data_base64`, if the event has a payload.
    #[serde(flatten)]
    #[schema(ignore)]
    data: Option<DataView>,
    /// Each plugin's delivery: state, attempts, history, result or error.
    deliveries: Vec<DeliveryRecord>,
}

/// The payload as the CloudEvents JSON format writes it.
#[derive(Serialize)]
enum DataView {
    /// JSON data, exactly as received: members in their order, numbers as
    /// written (the stored text, not a re-encoded tree).
    #[serde(rename = "data")]
    Json(Box<RawValue>),
    /// Text data.
    #[serde(rename = "data")]
    Text(String),
    /// Binary data, and data that is not what its media type says.
    #[serde(rename = "data_base64")]
    Base64(String),
}

impl DataView {
    /// JSON as JSON, text as a string, anything else as base64: by the
    /// event's `datacontenttype`, not by what the bytes look like, so binary
    /// data that happens to be UTF-8 is still binary. With no type, UTF-8
    /// is shown as text.
    fn of(event: &Event) -> Option<DataView> {
        if event.data.is_empty() {
            return None;
        }
        let media_type = event.datacontenttype.as_deref();
        let text = std::str::from_utf8(&event.data).ok();
        if media_type.is_some_and(is_json)
            && let Some(raw) = text.and_then(|text| RawValue::from_string(text.to_owned()).ok())
        {
            return Some(DataView::Json(raw));
        }
        Some(match text {
            Some(text) if media_type.is_none_or(|t| is_text(t) || is_json(t)) => {
                DataView::Text(text.to_owned())
            }
            _ => DataView::Base64(base64::engine::general_purpose::STANDARD.encode(&event.data)),
        })
    }
}
