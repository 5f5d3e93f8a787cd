//! The HTTP API: the router and the state its handlers share.

mod body;
mod caller;
mod dead_letters;
mod error;
mod event_ref;
mod events;
pub mod extract;
mod health;
mod http_metrics;
mod open_guard;
pub mod openapi;
mod plugin_listing;
mod plugins;
mod readiness;
mod replay;
mod request_id;
mod routes;
mod tenants;
mod unread_body;
mod whole_number;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::get;
use axum::{Json, Router};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use body::{BodyBudget, read_body, require_json};
pub use caller::Caller;
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use readiness::StartupPlugins;

use crate::backend::Backend;
use crate::dispatch::Replays;
use crate::event::rfc3339;
use crate::ingest::KeysInFlight;
use weir_core::Shared;
use weir_core::admission::AdmissionControl;

/// What every handler can reach: one shared allocation, so the copy axum
/// makes for each handler and middleware of a request is one reference
/// count, not one per part (they showed in the ingest profile).
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl AppState {
    /// The handle to `app`.
    pub fn new(app: App) -> AppState {
        AppState(Arc::new(app))
    }
}

impl std::ops::Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

/// The parts of the API's state.
pub struct App {
    /// The node's shared parts: config, routes, plugins, metrics, backlog,
    /// lanes, tenant pauses and the stop token.
    pub shared: Shared,
    /// Where ingest sends events to be made durable.
    pub backend: Arc<dyn Backend>,
    /// Replay jobs started through the API.
    pub replays: Arc<Replays>,
    /// Ingest's load shedding and tenant rate limits.
    pub admission: Arc<AdmissionControl>,
    /// Idempotency keys whose first request is being answered.
    pub keys_in_flight: Arc<KeysInFlight>,
    /// The last minutes of the pipeline, for the dashboard.
    pub history: Arc<crate::dashboard::History>,
    /// The plugins found at start-up, which `/readyz` waits for.
    pub startup_plugins: Arc<StartupPlugins>,
    /// The bytes of request bodies being received at once.
    pub body_budget: Arc<BodyBudget>,
}

/// The whole API, and its OpenAPI document at `/v1/openapi.json`.
pub fn router(state: AppState) -> Router {
    let body_limit = state.shared.config.ingest.max_body_bytes;
    // Ingest and the health checks: called by senders and probes, under
    // whatever name a proxy or tunnel gives weir.
    let open = OpenApiRouter::new()
        .routes(routes!(crate::ingest::post_events))
        .routes(routes!(crate::ingest::webhook::post_webhook))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz));
    let guard = axum::middleware::from_fn_with_state(state.clone(), open_guard::guard);
    let (router, document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(events::get_event))
        .routes(routes!(dead_letters::list))
        .routes(routes!(dead_letters::replay_matching))
        .routes(routes!(dead_letters::discard_event))
        .routes(routes!(dead_letters::replay_event))
        .routes(routes!(replay::start))
        .routes(routes!(replay::progress))
        .routes(routes!(routes::explain))
        .routes(routes!(routes::list))
        .routes(routes!(plugin_listing::list_plugins))
        .routes(routes!(plugins::plugin_state))
        .routes(routes!(plugins::pause))
        .routes(routes!(plugins::resume))
        .routes(routes!(tenants::list))
        .routes(routes!(tenants::pause))
        .routes(routes!(tenants::resume))
        .routes(routes!(health::metrics))
        .routes(routes!(crate::dashboard::data))
        .route("/", get(crate::dashboard::page))
        .route_layer(guard)
        .merge(open)
        .split_for_parts();
    let document = Json(openapi::finish(document, state.shared.config.auth.enabled));
    router
        .route("/v1/openapi.json", get(move || async move { document }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(unread_body::close_if_unread))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http_metrics::observe,
        ))
        .layer(axum::middleware::from_fn(request_id::tag))
        .with_state(state)
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
