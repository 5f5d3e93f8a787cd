//! `/healthz`, `/readyz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};
use crate::exposition::{CLASSIC_TEXT, classic_text};

/// Alive: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Object)),
    security(()),
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready: storage takes writes, so ingest can accept events.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "Storage takes writes", body = Object),
        (status = 503, description = "Storage failed: `{\"status\": \"storage_failed\"}`, or the NATS backend is not connected: `nats_disconnected`", body = Object),
    ),
    security(()),
)]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    let status = if !app.pipeline.storage_ok() {
        "storage_failed"
    } else if let Some(status) = app.backend.unready() {
        status
    } else {
        return (StatusCode::OK, Json(json!({ "status": "ready" })));
    };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": status })),
    )
}

/// Prometheus metrics: OpenMetrics text to a client that asks for it (as
/// Prometheus does), else the classic text format (promtool, older
/// scrapers). They name tenants and plugins, so with auth on they take an
/// admin token.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses((status = 200, description = "OpenMetrics 1.0 if `Accept` names it, else the Prometheus text format 0.0.4",
        content((String = "application/openmetrics-text"), (String = "text/plain")))),
)]
pub async fn metrics(
    State(app): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let openmetrics = app.pipeline.metrics.encode();
    let asked_for_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("application/openmetrics-text"));
    Ok(if asked_for_openmetrics {
        ([(header::CONTENT_TYPE, OPENMETRICS)], openmetrics)
    } else {
        (
            [(header::CONTENT_TYPE, CLASSIC_TEXT)],
            classic_text(&openmetrics),
        )
    })
}

/// The media type of OpenMetrics text.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
