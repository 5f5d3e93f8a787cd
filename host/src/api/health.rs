//! `/healthz`, `/readyz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{ApiError, AppState, Caller};

/// Alive: the process answers.
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready: storage takes writes, so ingest can accept events.
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Value>) {
    if app.pipeline.storage_ok() {
        (StatusCode::OK, Json(json!({ "status": "ready" })))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "storage_failed" })),
        )
    }
}

/// Prometheus metrics in OpenMetrics text; they name tenants and plugins,
/// so with auth on they take an admin token.
pub async fn metrics(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.pipeline.metrics.encode(),
    ))
}
