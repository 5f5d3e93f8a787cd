//! Reading a request body whole: at most `[ingest] max_body_bytes` (413 past
//! it, without reading the rest), and all of it within `body_timeout_ms` — a
//! deadline on the whole body, not on each read, since a client trickling a
//! byte at a time would pass any per-read limit. A JSON body must say so in
//! its Content-Type: a browser sends `text/plain` across sites without asking
//! (no CORS preflight), so a JSON endpoint that parsed it would let any web
//! page call it on a weir without `[auth]`.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};

use super::ApiError;
use crate::config::IngestLimits;

/// The body, or the error that says why it was not read.
pub async fn read_body(body: Body, limits: &IngestLimits) -> Result<Bytes, ApiError> {
    let read = axum::body::to_bytes(body, limits.max_body_bytes);
    let read = tokio::time::timeout(limits.body_timeout, read)
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "the body did not arrive within {} ms ([ingest] body_timeout_ms); nothing was done",
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

/// Refuses (415) a body whose Content-Type is not JSON (`application/json`
/// or a `+json` type such as `application/cloudevents+json`), before it is read.
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    require_json_type(
        headers,
        "the body must be JSON with Content-Type: application/json",
    )
}

/// Refuses (415) a request whose Content-Type is not JSON, saying `rule`.
pub(super) fn require_json_type(headers: &HeaderMap, rule: &str) -> Result<(), ApiError> {
    let given = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    match given {
        Some(media) if media == "application/json" || media.ends_with("+json") => Ok(()),
        other => Err(ApiError::UnsupportedMediaType(format!(
            "{rule} (got {})",
            other.map_or("none".to_owned(), |media| format!("{media:?}"))
        ))),
    }
}
