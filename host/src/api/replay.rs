//! Replay from the log: `POST /v1/replay` re-runs a plugin over events ingested
//! since a time or a sequence number; `GET /v1/replays/{id}` follows the job.

use axum::Json;
use axum::body::Body;
use axum::extract::State;

use super::extract::Path;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::whole_number;
use super::{ApiError, AppState, Caller, ErrorBody, read_body, require_json};
use crate::dispatch::{ReplayProgress, ReplaySpec};

/// Deliveries queued per second unless the request says otherwise: well under
/// what a plugin handles, so live traffic keeps its share.
const DEFAULT_RATE: u32 = 500;
const MAX_RATE: u32 = 100_000;

/// The request body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The plugin to run again.
    plugin: String,
    /// RFC 3339: events ingested at or after this time.
    #[schema(format = DateTime)]
    since: Option<String>,
    /// Events from this sequence number on.
    #[serde(default, deserialize_with = "whole_number::optional")]
    since_sequence: Option<u64>,
    /// Events up to this sequence number (default: the newest now).
    #[serde(default, deserialize_with = "whole_number::optional")]
    until_sequence: Option<u64>,
    /// Deliveries queued per second (default 500).
    #[serde(default, deserialize_with = "whole_number::optional")]
    #[schema(minimum = 1, maximum = 100_000)]
    rate_per_sec: Option<u32>,
}

/// `POST /v1/replay`: starts a job and answers `202` with its progress.
#[utoipa::path(
    post,
    path = "/v1/replay",
    tag = "replay",
    summary = "Re-run a plugin over past events",
    request_body(content = ReplayRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "The job's progress and its `status_url`", body = ReplayStarted),
        (status = 400, description = "Not a valid replay request", body = ErrorBody),
        (status = 404, description = "No such plugin", body = ErrorBody),
        (status = 415, description = "The body is not JSON (Content-Type)", body = ErrorBody),
    ),
)]
pub async fn start(
    State(app): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<ReplayStarted>), ApiError> {
    caller.require_admin()?;
    require_json(&headers)?;
    let body = read_body(body, &app.shared.config.ingest, &app.body_budget).await?;
    let request: ReplayRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidJson(format!("invalid replay request: {e}")))?;
    if app.shared.plugins.get(&request.plugin).is_none() {
        return Err(ApiError::NotFound(format!(
            "no plugin named {:?}",
            request.plugin
        )));
    }
    let since_ms = request.since.as_deref().map(parse_time).transpose()?;
    if since_ms.is_none() && request.since_sequence.is_none() {
        return Err(ApiError::BadRequest(
            "say where to start: since (RFC 3339) or since_sequence".into(),
        ));
    }
    let rate_per_sec = request.rate_per_sec.unwrap_or(DEFAULT_RATE);
    if rate_per_sec == 0 || rate_per_sec > MAX_RATE {
        return Err(ApiError::BadRequest(format!(
            "rate_per_sec must be 1 to {MAX_RATE}"
        )));
    }
    let log = app.backend.replay_log(&request.plugin).await?;
    let (oldest, newest) = (log.oldest, log.newest);
    let spec = ReplaySpec {
        plugin: request.plugin,
        from: request.since_sequence.unwrap_or(0).max(oldest),
        to: request.until_sequence.unwrap_or(newest).min(newest),
        since_ms,
        rate_per_sec,
    };
    let progress = app.replays.start(log.queue, spec, app.shared.stop.clone());
    let status_url = format!("/v1/replays/{}", progress.id);
    Ok((
        StatusCode::ACCEPTED,
        Json(ReplayStarted {
            progress,
            status_url,
        }),
    ))
}

/// The answer to `POST /v1/replay`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayStarted {
    /// The job's first progress report.
    #[serde(flatten)]
    pub progress: ReplayProgress,
    /// Where to follow it.
    pub status_url: String,
}

/// `GET /v1/replays/{id}`.
#[utoipa::path(
    get,
    path = "/v1/replays/{id}",
    tag = "replay",
    summary = "Follow a replay job",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job's progress", body = ReplayProgress),
        (status = 404, description = "No such job", body = ErrorBody),
    ),
)]
pub async fn progress(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ReplayProgress>, ApiError> {
    caller.require_admin()?;
    let progress = app
        .replays
        .progress(&id)
        .ok_or_else(|| ApiError::NotFound(format!("no replay job {id:?}")))?;
    Ok(Json(progress))
}

/// `since` in ms since the Unix epoch: an RFC 3339 time with any offset; a
/// time before 1970 covers every event, as the epoch does.
fn parse_time(text: &str) -> Result<u64, ApiError> {
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        ApiError::BadRequest(format!(
            "since {text:?} is not an RFC 3339 time such as 2026-01-31T09:00:00Z: {e}"
        ))
    })?;
    Ok(u64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0))
}
