//! Reading a request body whole: at most `[ingest] max_body_bytes` (413 past
//! it, without reading the rest), within the bytes all bodies being received
//! may hold together (503 past them), and all of it within `body_timeout_ms` — a
//! deadline on the whole body, not on each read, since a client trickling a
//! byte at a time would pass any per-read limit. A JSON body must say so in
//! its Content-Type: a browser sends `text/plain` across sites without asking
//! (no CORS preflight), so a JSON endpoint that parsed it would let any web
//! page call it on a weir without `[auth]`.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, header};
use bytes::BytesMut;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;
use crate::config::IngestLimits;

/// The bytes of request bodies being received at once, all connections
/// together (`[ingest] max_body_bytes_in_flight`): without it, clients that
/// send slowly could hold `max_connections` bodies of `max_body_bytes` each.
/// A body holds its bytes while it is being received.
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    limit: usize,
}

impl BodyBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> BodyBudget {
        BodyBudget {
            bytes: Arc::new(Semaphore::new(limit.min(Semaphore::MAX_PERMITS))),
            limit,
        }
    }

    /// Adds `n` bytes to what a body holds (`held`), or refuses it (503) if
    /// the budget has not that many left.
    fn take(&self, held: &mut Option<OwnedSemaphorePermit>, n: usize) -> Result<(), ApiError> {
        if n == 0 {
            return Ok(());
        }
        let permit = u32::try_from(n)
            .ok()
            .and_then(|n| self.bytes.clone().try_acquire_many_owned(n).ok())
            .ok_or_else(|| ApiError::Overloaded {
                message: format!(
                    "weir is receiving {} bytes of request bodies already, the most it holds at once \
                     ([ingest] max_body_bytes_in_flight); nothing was done, retry later",
                    self.limit
                ),
                retry_after_secs: 1,
            })?;
        match held {
            Some(held) => held.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }
}

/// The body, or the error that says why it was not read.
pub async fn read_body(
    body: Body,
    limits: &IngestLimits,
    budget: &BodyBudget,
) -> Result<Bytes, ApiError> {
    let read = async {
        let mut body = body;
        let mut held = None;
        let mut bytes = BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame
                .map_err(|error| ApiError::BadRequest(format!("cannot read the body: {error}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if bytes.len() + data.len() > limits.max_body_bytes {
                return Err(ApiError::PayloadTooLarge(format!(
                    "the body is larger than {} bytes",
                    limits.max_body_bytes
                )));
            }
            budget.take(&mut held, data.len())?;
            bytes.extend_from_slice(&data);
        }
        Ok(bytes.freeze())
    };
    tokio::time::timeout(limits.body_timeout, read)
        .await
        .map_err(|_| {
            ApiError::RequestTimeout(format!(
                "the body did not arrive within {} ms ([ingest] body_timeout_ms); nothing was done",
                limits.body_timeout.as_millis()
            ))
        })?
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
