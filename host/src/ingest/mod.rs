//! `POST /v1/events`: check the media type, parse and validate (JSON forms in
//! `parse.rs`, the CloudEvents binary mode in `binary.rs`), then hand the
//! events to the group committer and answer 202 once they are fsync'd.
//! `POST /v1/webhooks/{name}` (`webhook.rs`) takes the same path once a
//! third-party request's signature checks out.

mod admission;
mod binary;
mod idempotency;
mod parse;
mod signature;
mod webhook;

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub use admission::Admission;
pub use idempotency::KeysInFlight;
pub use parse::{is_json, parse_events};
pub use webhook::post_webhook;

use crate::api::{ApiError, AppState, Caller};
use crate::metrics::ReasonLabel;
use crate::queue::{Admission as QueueAdmission, QueueError, RequestKey};

/// Media types `POST /v1/events` reads.
const ACCEPTED_MEDIA_TYPES: [&str; 3] = [
    "application/json",
    "application/cloudevents+json",
    "application/cloudevents-batch+json",
];

/// The handler of `POST /v1/events`.
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
        app.pipeline
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
    let binary = binary::is_binary(headers);
    if !binary {
        check_media_type(headers)?;
    }
    // Held before the body is read: a second request with the key, sent
    // while this one is still arriving, gets 409.
    let mut held = idempotency::hold(app, caller, headers)?;
    let body = read_body(app, body).await?;
    if let Some(held) = &mut held
        && let Some(admissions) = held.answered_before(app, headers, &body)?
    {
        let mut answer = accepted(&admissions).into_response();
        answer
            .headers_mut()
            .insert(idempotency::REPLAYED, HeaderValue::from_static("true"));
        return Ok(answer);
    }
    let tenant = caller.default_tenant();
    let events = if binary {
        vec![binary::parse_binary(headers, &body, tenant)?]
    } else {
        parse_events(
            &body,
            app.pipeline.config.ingest.max_events_per_request,
            tenant,
        )?
    };
    for event in &events {
        caller.require_tenant(&event.tenant)?;
    }
    let Some(held) = held else {
        return Ok(store(app, events, None).await?.into_response());
    };
    // A client that gives up mid-commit drops this handler, not the commit:
    // the key stays held until its record is stored, so a retry then sees it.
    let app = app.clone();
    let committing = tokio::spawn(async move {
        let answer = store(&app, events, Some(held.key.clone())).await;
        drop(held);
        answer
    });
    let answer = committing.await.map_err(|_| ApiError::Internal)?;
    Ok(answer?.into_response())
}

/// Sheds load before reading anything, then reads the body up to
/// `max_body_bytes` (413 past it, without reading the rest).
async fn read_body(app: &AppState, body: Body) -> Result<axum::body::Bytes, ApiError> {
    let pipeline = &app.pipeline;
    if !pipeline.storage_ok() {
        return Err(ApiError::Unavailable);
    }
    let limits = &pipeline.config.ingest;
    // Before the body is read: a shed request costs next to nothing.
    app.admission.check_load(pipeline)?;
    // A deadline on the whole body, not on each read: a client trickling a
    // byte at a time would pass any per-read limit.
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    let read = tokio::time::timeout(limits.body_timeout, read)
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "the body did not arrive within {} ms ([ingest] body_timeout_ms); nothing was stored",
                limits.body_timeout.as_millis()
            ))
        })?;
    read.map_err(|error| {
        let error = error.into_inner();
        if error.is::<http_body_util::LengthLimitError>() {
            ApiError::PayloadTooLarge(format!(
                "the body is larger than {} bytes",
                limits.max_body_bytes
            ))
        } else {
            ApiError::BadRequest(format!("cannot read the body: {error}"))
        }
    })
}

/// Admits valid `events` past the routing policy and the tenants' quotas and
/// rates, stores them, and answers 202 once they are durable.
async fn store(
    app: &AppState,
    events: Vec<crate::event::Event>,
    request_key: Option<RequestKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let pipeline = &app.pipeline;
    reject_unrouted(pipeline, &events)?;
    let mut per_tenant: BTreeMap<&str, usize> = BTreeMap::new();
    for event in &events {
        *per_tenant.entry(event.tenant.as_str()).or_default() += 1;
    }
    app.admission.check_quotas(pipeline, &per_tenant)?;
    app.admission.take_tokens(&pipeline.config, &per_tenant)?;
    let admissions = app
        .committer
        .submit(events, request_key)
        .await
        .map_err(|error| {
            tracing::error!(%error, "events not stored");
            match error {
                QueueError::DiskFull => ApiError::InsufficientStorage,
                _ => ApiError::Unavailable,
            }
        })?;
    Ok(accepted(&admissions))
}

/// The 202 answer: every event's id, and those already stored before.
fn accepted(admissions: &[QueueAdmission]) -> (StatusCode, Json<Value>) {
    let ids: Vec<&str> = admissions.iter().map(|a| a.id.as_str()).collect();
    let duplicates: Vec<&str> = admissions
        .iter()
        .filter(|a| a.duplicate)
        .map(|a| a.id.as_str())
        .collect();
    (
        StatusCode::ACCEPTED,
        Json(json!({ "ids": ids, "duplicates": duplicates })),
    )
}

/// Under `[routing] unmatched = "reject"`, refuses the request if an event
/// matches no route: the sender learns at once, and nothing is stored.
fn reject_unrouted(
    pipeline: &crate::pipeline::Pipeline,
    events: &[crate::event::Event],
) -> Result<(), ApiError> {
    if pipeline.config.unmatched != crate::config::Unmatched::Reject {
        return Ok(());
    }
    let routes = pipeline.routes();
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
