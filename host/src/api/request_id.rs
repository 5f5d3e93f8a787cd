//! Request ids: every answer carries `x-request-id` — the caller's own if it
//! sent a usable one, else a fresh UUIDv7 — and the request's log lines carry
//! it too, so a client's report can be found in weir's log.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The header, in both directions.
pub const HEADER: &str = "x-request-id";

/// Longest caller-chosen id kept; a longer one is replaced.
const MAX_BYTES: usize = 128;

/// Tags the request and its answer with an id.
pub async fn tag(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .filter(|id| !id.is_empty() && id.len() <= MAX_BYTES && id.to_str().is_ok())
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
                .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
        });
    let span = tracing::info_span!(
        "request",
        request_id = id.to_str().unwrap_or_default(),
        method = %request.method(),
        path = request.uri().path(),
    );
    // Before the span starts: a client's trace context makes it a child.
    crate::telemetry::trace_context::adopt_from_headers(&span, request.headers());
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(HEADER, id);
    response
}
