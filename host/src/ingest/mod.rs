//! `POST /v1/events`: check the media type, parse and validate (the
//! `weir-event` crate: JSON forms and the CloudEvents binary mode), then hand the
//! events to the group committer and answer 202 once they are fsync'd.
//! `POST /v1/webhooks/{name}` (`webhook.rs`) takes the same path once a
//! third-party request's signature checks out.

mod idempotency;
mod signature;
pub mod webhook;

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::Instrument;
use utoipa::ToSchema;

pub use idempotency::KeysInFlight;
pub use weir_store_fjall::group_commit::GroupCommitter;

use crate::api::openapi::{CloudEvent, EventOrBatch};
use crate::api::{ApiError, AppState, Caller, ErrorBody, read_body};
use crate::event::{Event, parse_events};
use crate::metrics::ReasonLabel;
use crate::telemetry::trace_context;
use weir_core::Shared;
use weir_core::store::{Admission as QueueAdmission, Append, RequestKey, StoreError, Unready};

/// Media types `POST /v1/events` reads.
const ACCEPTED_MEDIA_TYPES: [&str; 3] = [
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
];

/// The handler of `POST /v1/events`.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    summary = "Ingest events",
    // The binary mode is told here, not as a `ce-specversion` header
    // parameter: OpenAPI cannot say that the header makes `ce-source` and
    // `ce-type` required and turns the body into data of any media type.
    description = "One event or a batch, in weir's JSON form or CloudEvents 1.0 (structured, \
        batch, or binary mode). In binary mode a `ce-specversion: 1.0` header marks the \
        request, every `ce-*` header is an attribute (`ce-source` and `ce-type` required), \
        and the body, of any media type, is the data. Answers 202 once the events are \
        durable; a batch is stored whole or not at all.",
    params(
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$",
            description = "1 to 255 visible ASCII characters; a repeat of the request within the dedup window gets the first answer again"),
    ),
    request_body(
        description = "An event or an array of events",
        content(
            (EventOrBatch = "application/json"),
            (CloudEvent = "application/cloudevents+json"),
            (Vec<CloudEvent> = "application/cloudevents-batch+json"),
        ),
    ),
    responses(
        (status = 202, description = "Stored durably", body = Accepted,
            headers(("Idempotent-Replayed" = String, description = "`true` when the answer repeats an earlier one"))),
        (status = 400, description = "Not JSON, or not a valid event", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key is in use by a request still being answered", body = ErrorBody),
        (status = 413, description = "The body or the batch is too large", body = ErrorBody),
        (status = 415, description = "A media type weir does not read", body = ErrorBody),
        (status = 422, description = "An Idempotency-Key or event identity reused with other content, or an event no route matches", body = ErrorBody),
        (status = 429, description = "A tenant over its rate or backlog quota", body = ErrorBody),
    ),
)]
pub async fn post_events(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let answer = match caller {
        Ok(caller) => admit(&app, &caller, &headers, body).await,
        Err(refused) => Err(refused),
    };
    count_rejection(&app, &answer);
    answer
}

/// Counts a refused request in `weir_ingest_rejected_total` by its error code.
fn count_rejection<T>(app: &AppState, answer: &Result<T, ApiError>) {
    if let Err(error) = answer {
        let reason = ReasonLabel {
            reason: error.code().to_owned(),
        };
        app.shared
            .metrics
            .ingest_rejected
            .get_or_create(&reason)
            .inc();
    }
}

async fn admit(
    app: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let binary = crate::event::is_binary(headers);
    if !binary {
        check_media_type(headers)?;
    }
    // Held before the body is read: a second request with the key, sent
    // while this one is still arriving, gets 409.
    let mut held = idempotency::hold(app, caller, headers)?;
    let body = admit_body(app, body).await?;
    if let Some(held) = &mut held
        && let Some(admissions) = held.answered_before(app, headers, &body).await?
    {
        return Ok(accepted(&admissions, true));
    }
    let tenant = caller.default_tenant();
    let mut events = if binary {
        vec![crate::event::parse_binary(headers, &body, tenant)?]
    } else {
        parse_events(
            &body,
            app.shared.config.ingest.max_events_per_request,
            tenant,
        )?
    };
    for event in &events {
        caller.require_tenant(&event.tenant)?;
    }
    let span = ingest_span(&events);
    trace_context::stamp_ingested(&span, headers, &mut events);
    let Some(held) = held else {
        return store(app, events, None).instrument(span).await;
    };
    // A client that gives up mid-commit drops this handler, not the commit:
    // the key stays held until its record is stored, so a retry then sees it.
    let app = app.clone();
    let committing = tokio::spawn(async move {
        let answer = store(&app, events, Some(held.key.clone()))
            .instrument(span)
            .await;
        drop(held);
        answer
    });
    committing.await.map_err(|_| ApiError::Internal)?
}

/// The span of storing `events`: how many, and which one if there is only one.
fn ingest_span(events: &[Event]) -> tracing::Span {
    let single = match events {
        [event] => Some(event),
        _ => None,
    };
    tracing::info_span!(
        "ingest",
        events = events.len(),
        event_id = single.map(|event| event.id.as_str()),
        tenant = single.map(|event| event.tenant.as_str()),
    )
}

/// Sheds load before reading anything, then reads the body up to
/// `max_body_bytes` (413 past it, without reading the rest).
async fn admit_body(app: &AppState, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let shared = &app.shared;
    match app.backend.unready() {
        Some(Unready::DiskFull) => return Err(ApiError::InsufficientStorage),
        Some(Unready::StorageFailed | Unready::Disconnected) => return Err(ApiError::Unavailable),
        None => {}
    }
    // Before the body is read: a shed request costs next to nothing.
    app.admission
        .check_load(&shared.config.ingest, &shared.backlog)?;
    read_body(body, &shared.config.ingest, &app.body_budget).await
}

/// Admits valid `events` past the routing policy and the tenants' quotas and
/// rates, stores them, and answers 202 once they are durable.
async fn store(
    app: &AppState,
    events: Vec<crate::event::Event>,
    request_key: Option<RequestKey>,
) -> Result<Response, ApiError> {
    let shared = &app.shared;
    reject_unrouted(shared, &events)?;
    let mut per_tenant: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *per_tenant.entry(event.tenant.as_str()).or_default() += 1;
    }
    app.admission
        .check_quotas(&shared.config, &shared.backlog, &per_tenant)?;
    app.admission.take_tokens(&shared.config, &per_tenant)?;
    let request = Append {
        events,
        request_key,
    };
    let admissions = app
        .backend
        .append_one(request)
        .await
        .map_err(|error| match error {
            StoreError::IdReused(message) => ApiError::KeyReused(message),
            error => {
                tracing::error!(%error, "events not stored; the client may send them again");
                match error {
                    StoreError::DiskFull => ApiError::InsufficientStorage,
                    // Nothing of the request was stored, whatever failed.
                    _ => ApiError::Unavailable,
                }
            }
        })?;
    let stored = admissions.iter().filter(|admission| !admission.duplicate);
    shared.metrics.events_ingested.inc_by(stored.count() as u64);
    // Every event stored before: the request repeats an earlier one.
    let replayed = admissions.iter().all(|admission| admission.duplicate);
    Ok(accepted(&admissions, replayed))
}

/// The answer to a request whose events are stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Every event's id, in the order sent (generated where none was sent).
    pub ids: Vec<String>,
    /// The ids of events stored before: nothing new was written for them.
    pub duplicates: Vec<String>,
}

/// The 202 answer: every event's id, and those already stored before;
/// marked `Idempotent-Replayed` when it repeats an earlier answer.
fn accepted(admissions: &[QueueAdmission], replayed: bool) -> Response {
    let ids = admissions.iter().map(|a| a.id.clone()).collect();
    let duplicates = admissions
        .iter()
        .filter(|a| a.duplicate)
        .map(|a| a.id.clone())
        .collect();
    let mut answer = (StatusCode::ACCEPTED, Json(Accepted { ids, duplicates })).into_response();
    if replayed {
        answer
            .headers_mut()
            .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
    }
    answer
}

/// Under `[routing] unmatched = "reject"`, refuses the request if an event
/// matches no route: the sender learns at once, and nothing is stored.
fn reject_unrouted(shared: &Shared, events: &[crate::event::Event]) -> Result<(), ApiError> {
    if shared.config.unmatched != crate::config::Unmatched::Reject {
        return Ok(());
    }
    let routes = shared.routes.current();
    match events
        .iter()
        .find(|event| routes.plugins_for(event).is_empty())
    {
        Some(event) => Err(ApiError::Unrouted(format!(
            "event {:?} (type {:?}, source {:?}) matches no route, and [routing] unmatched = \"reject\"; nothing was stored",
            event.id, event.kind, event.source
        ))),
        None => Ok(()),
    }
}

fn check_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match given {
        Some(media_type) if ACCEPTED_MEDIA_TYPES.contains(&media_type.as_str()) => Ok(()),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "Content-Type must be one of {} (got {})",
            ACCEPTED_MEDIA_TYPES.join(", "),
            other.map_or("none".to_owned(), |t| format!("{t:?}"))
        ))),
    }
}
