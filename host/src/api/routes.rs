//! `POST /v1/routes/explain`: where an event would go, and why, without storing it.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::openapi::CloudEvent;
use super::{ApiError, AppState, Caller, ErrorBody, read_body, require_json};
use crate::config::Unmatched;
use crate::route::{Explanation, MatchSpec, RouteOptions, RouteVerdict};

/// Routes the one event in the body (weir JSON or CloudEvents structured) and
/// answers with every route's verdict and the plugins it would reach.
#[utoipa::path(
    post,
    path = "/v1/routes/explain",
    tag = "routes",
    summary = "Explain where an event would go",
    request_body(content = CloudEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "Every route's verdict and the `plugins` the event would reach; nothing is stored", body = RouteExplanation),
        (status = 400, description = "Not a valid event, or an array: explain takes one event", body = ErrorBody),
        (status = 415, description = "The body is not JSON (Content-Type)", body = ErrorBody),
    ),
)]
pub async fn explain(
    State(app): State<AppState>,
    caller: Caller,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Json<RouteExplanation>, ApiError> {
    let shared = &app.shared;
    require_json(&headers)?;
    let body = read_body(body, &shared.config.ingest, &app.body_budget).await?;
    if body.trim_ascii_start().starts_with(b"[") {
        return Err(ApiError::InvalidEvent(
            "explain takes one event object, not a batch".into(),
        ));
    }
    let mut events = crate::event::parse_events(&body, 1, caller.default_tenant())?;
    let event = events
        .pop()
        .ok_or_else(|| ApiError::InvalidEvent("the body holds no event".into()))?;
    caller.require_tenant(&event.tenant)?;
    let own_routes_only = caller.own_tenant().is_some();
    let Explanation { plugins, routes } = shared.routes.current().explain(&event, own_routes_only);
    let unmatched = plugins.is_empty().then_some(match shared.config.unmatched {
        Unmatched::Keep => "kept with no deliveries",
        Unmatched::Reject => "rejected at ingest with 422",
    });
    Ok(Json(RouteExplanation {
        plugins,
        routes,
        unmatched,
        event: ExplainedEvent {
            id: event.id,
            kind: event.kind,
            source: event.source,
            tenant: event.tenant,
        },
    }))
}

/// Where an event would go, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteExplanation {
    /// The plugins it would reach, in order.
    plugins: Vec<String>,
    /// Every route's verdict, in table order.
    routes: Vec<RouteVerdict>,
    /// What happens to an event no route sends anywhere, if none does.
    #[serde(skip_serializing_if = "Option::is_none")]
    unmatched: Option<&'static str>,
    /// The event explained.
    event: ExplainedEvent,
}

/// The event an explanation is of.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExplainedEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    source: String,
    tenant: String,
}

/// The routing table in force: each route as written, with its line in the
/// file it came from, and when the table was loaded (a reload of the config
/// file replaces it).
#[utoipa::path(
    get,
    path = "/v1/routes",
    tag = "routes",
    summary = "List the routes in force",
    responses(
        (status = 200, description = "`source` (the file, or the example pipeline), `loaded_at`, and `routes` in table order, each as written with its `line`", body = RouteListing),
    ),
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<RouteListing>, ApiError> {
    caller.require_admin()?;
    let table = app.shared.routes.current();
    let origin = table.origin();
    let routes = table
        .written()
        .map(|route| WrittenRoute {
            name: route.name.clone(),
            conditions: route.conditions.clone(),
            plugins: route.plugins.clone(),
            stop: route.stop,
            options: route.options.clone(),
            line: origin.lines.get(&route.name).copied(),
        })
        .collect();
    Ok(Json(RouteListing {
        source: origin.source.clone(),
        loaded_at: super::rfc3339(origin.loaded_at_ms),
        routes,
    }))
}

/// The routing table in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteListing {
    /// The file it came from, or the example shared.
    source: String,
    /// When it was loaded (RFC 3339).
    loaded_at: String,
    /// The routes in table order, each as written.
    routes: Vec<WrittenRoute>,
}

/// A route as written (`RouteSpec`), and where. Its fields are spelled
/// out rather than flattened: the schema of a flattened `RouteSpec` allows
/// no member but its own, `line` included.
#[derive(Debug, Serialize, ToSchema)]
pub struct WrittenRoute {
    /// Its name.
    name: String,
    /// Its conditions.
    #[serde(rename = "match")]
    conditions: MatchSpec,
    /// The plugins it sends to.
    plugins: Vec<String>,
    /// Whether it ends the walk when it matches.
    stop: bool,
    /// What it changes about its deliveries.
    options: RouteOptions,
    /// Its line in the file it came from, if it came from one.
    line: Option<usize>,
}
