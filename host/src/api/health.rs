//! `/healthz`, `/readyz` and `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::readiness::Waiting;
use super::{ApiError, AppState, Caller};
use crate::metrics::exposition::{CLASSIC_TEXT, classic_text};

/// Alive: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Liveness",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = Health)),
    security(()),
)]
pub async fn healthz() -> Json<Health> {
    Json(Health::status("ok"))
}

/// What `/healthz` and `/readyz` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` (alive), `ready`, or why weir is not ready: `storage_failed`,
    /// `disk_full`, `nats_disconnected`, `plugins_loading`.
    pub status: &'static str,
    /// While `plugins_loading`: the plugins still compiling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loading: Option<Vec<String>>,
    /// While `plugins_loading`: what weir waits for, and how long at most.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Health {
    fn status(status: &'static str) -> Health {
        Health {
            status,
            loading: None,
            message: None,
        }
    }
}

/// Ready: storage takes writes, so ingest can accept events, and the plugins
/// found at start-up have loaded (or were rejected), so events get processed.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Readiness",
    responses(
        (status = 200, description = "Storage takes writes and the start-up plugins are loaded", body = Health),
        (status = 503, description = "Storage failed: `{\"status\": \"storage_failed\"}` (`disk_full` when the disk filled up); the NATS backend is not connected: `nats_disconnected`; \
            plugins found at start-up still compiling (for at most `[reload] ready_wait_ms`): `{\"status\": \"plugins_loading\", \"loading\": [...]}`", body = Health),
    ),
    security(()),
)]
pub async fn readyz(State(app): State<AppState>) -> (StatusCode, Json<Health>) {
    let unready = if let Some(unready) = app.backend.unready() {
        Health::status(unready.status())
    } else if let Waiting::For(loading) = app.startup_plugins.waiting(&app.shared.plugins) {
        Health {
            status: "plugins_loading",
            loading: Some(loading),
            message: Some(format!(
                "plugins found at start-up are still compiling; ready once they serve or are \
                 rejected, or after [reload] ready_wait_ms ({} ms)",
                app.startup_plugins.wait().as_millis()
            )),
        }
    } else {
        return (StatusCode::OK, Json(Health::status("ready")));
    };
    (StatusCode::SERVICE_UNAVAILABLE, Json(unready))
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
    let openmetrics = app.shared.metrics.encode();
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
