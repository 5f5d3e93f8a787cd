//! `GET /v1/tenants` and `POST /v1/tenants/{tenant}/pause|resume`.
//!
//! Pausing a tenant holds its deliveries in the queue (those running finish);
//! its events are still accepted, up to its backlog quota and the global mark.
//! Resuming makes the held deliveries ready again, in their order. Both survive
//! a restart.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;

use serde::Serialize;
use utoipa::ToSchema;

use super::extract::Path;

use super::{ApiError, AppState, Caller, ErrorBody};
use crate::event::check_tenant;

/// Tenants that are configured, paused, or have deliveries pending; a
/// tenant's token sees its own entry only.
#[utoipa::path(
    get,
    path = "/v1/tenants",
    tag = "tenants",
    summary = "List tenants",
    responses((status = 200, description = "Each tenant's backlog, pause and quotas", body = TenantList)),
)]
pub async fn list(State(app): State<AppState>, caller: Caller) -> Json<TenantList> {
    let shared = &app.shared;
    let pending: std::collections::BTreeMap<String, u64> =
        shared.backlog.tenants().into_iter().collect();
    let paused = shared.tenant_pauses.all();
    let names: BTreeSet<&str> = shared
        .config
        .tenants
        .keys()
        .chain(pending.keys())
        .chain(paused.iter())
        .map(String::as_str)
        .chain(caller.own_tenant())
        .filter(|tenant| caller.own_tenant().is_none_or(|own| own == *tenant))
        .collect();
    let tenants = names
        .into_iter()
        .map(|tenant| {
            let limits = shared.config.tenant_limits(tenant);
            TenantView {
                tenant: tenant.to_owned(),
                backlog: pending.get(tenant).copied().unwrap_or(0),
                paused: shared.tenant_pauses.is_paused(tenant),
                backlog_quota: limits.backlog.map(|marks| marks.high),
                rate_per_sec: limits.rate_per_sec,
            }
        })
        .collect();
    Json(TenantList { tenants })
}

/// The answer to `GET /v1/tenants`.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantList {
    /// Configured tenants, paused ones and those with deliveries pending,
    /// by name.
    pub tenants: Vec<TenantView>,
}

/// One tenant as `GET /v1/tenants` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantView {
    /// Its name.
    pub tenant: String,
    /// Its deliveries not yet done or dead.
    pub backlog: u64,
    /// Whether an operator paused it.
    pub paused: bool,
    /// The backlog above which its events are refused, if it has a quota.
    pub backlog_quota: Option<u64>,
    /// The ingest rate it may not exceed, if it has one.
    pub rate_per_sec: Option<f64>,
}

/// The answer to a pause or resume of a tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantPause {
    /// The tenant.
    pub tenant: String,
    /// Whether it is paused now.
    pub paused: bool,
    /// On resume, how many held deliveries are ready again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released: Option<u64>,
}

/// `POST /v1/tenants/{tenant}/pause`.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/pause",
    tag = "tenants",
    summary = "Hold a tenant's deliveries",
    params(("tenant" = String, Path, description = "The tenant", pattern = "^[A-Za-z0-9._-]{1,64}$")),
    responses(
        (status = 200, description = "The tenant is paused", body = TenantPause),
        (status = 400, description = "Not a valid tenant name", body = ErrorBody),
    ),
)]
pub async fn pause(
    State(app): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<TenantPause>, ApiError> {
    caller.require_admin()?;
    check_tenant(&tenant).map_err(ApiError::BadRequest)?;
    app.backend.set_tenant_paused(&tenant, true).await?;
    tracing::warn!(%tenant, "tenant paused by an operator: its deliveries are held");
    Ok(Json(TenantPause {
        tenant,
        paused: true,
        released: None,
    }))
}

/// `POST /v1/tenants/{tenant}/resume`: answers once every held delivery is ready.
#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/resume",
    tag = "tenants",
    summary = "Release a paused tenant's deliveries",
    params(("tenant" = String, Path, description = "The tenant", pattern = "^[A-Za-z0-9._-]{1,64}$")),
    responses(
        (status = 200, description = "Every held delivery is ready again", body = TenantPause),
        (status = 400, description = "Not a valid tenant name", body = ErrorBody),
    ),
)]
pub async fn resume(
    State(app): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<TenantPause>, ApiError> {
    caller.require_admin()?;
    check_tenant(&tenant).map_err(ApiError::BadRequest)?;
    let released = app.backend.set_tenant_paused(&tenant, false).await?;
    tracing::warn!(%tenant, released, "tenant resumed by an operator");
    Ok(Json(TenantPause {
        tenant,
        paused: false,
        released: Some(released),
    }))
}
