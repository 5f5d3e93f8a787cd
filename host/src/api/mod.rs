//! The HTTP API: the router and the state its handlers share.

mod caller;
mod dead_letters;
mod error;
mod events;
mod health;
mod plugins;
mod replay;
mod request_id;
mod routes;
mod tenants;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::routing::{delete, get, post};

pub use caller::Caller;
pub use error::ApiError;

use crate::dispatch::Replays;
use crate::ingest::{Admission, KeysInFlight};
use crate::pipeline::Pipeline;
use crate::queue::GroupCommitter;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The shared pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Where ingest sends events to be made durable.
    pub committer: GroupCommitter,
    /// Replay jobs started through the API.
    pub replays: Arc<Replays>,
    /// Ingest's load shedding and tenant rate limits.
    pub admission: Arc<Admission>,
    /// Idempotency keys whose first request is being answered.
    pub keys_in_flight: Arc<KeysInFlight>,
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let body_limit = state.pipeline.config.ingest.max_body_bytes;
    Router::new()
        .route("/v1/events", post(crate::ingest::post_events))
        .route("/v1/events/{id}", get(events::get_event))
        .route("/v1/webhooks/{name}", post(crate::ingest::post_webhook))
        .route("/v1/dead-letters", get(dead_letters::list))
        .route(
            "/v1/dead-letters/replay",
            post(dead_letters::replay_matching),
        )
        .route("/v1/dead-letters/{id}", delete(dead_letters::discard_event))
        .route(
            "/v1/dead-letters/{id}/replay",
            post(dead_letters::replay_event),
        )
        .route("/v1/replay", post(replay::start))
        .route("/v1/replays/{id}", get(replay::progress))
        .route("/v1/routes/explain", post(routes::explain))
        .route("/v1/plugins", get(plugins::list_plugins))
        .route("/v1/plugins/{name}/state", get(plugins::plugin_state))
        .route("/v1/plugins/{name}/pause", post(plugins::pause))
        .route("/v1/plugins/{name}/resume", post(plugins::resume))
        .route("/v1/tenants", get(tenants::list))
        .route("/v1/tenants/{tenant}/pause", post(tenants::pause))
        .route("/v1/tenants/{tenant}/resume", post(tenants::resume))
        .route("/metrics", get(health::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(request_id::tag))
        .with_state(state)
}

/// A time in ms since the Unix epoch as RFC 3339, the way the API shows times.
fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{method} is not allowed on {}", uri.path()))
}
