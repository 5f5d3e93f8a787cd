//! The live dashboard: one page at `/`, embedded in the binary, that charts
//! the pipeline's last minutes from `GET /v1/dashboard` and lists plugins and
//! dead letters from the admin API. No build step and no asset outside weir.

mod history;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;

pub use history::{History, Sample, sample};

use crate::api::{ApiError, AppState, Caller};
use crate::backend::DeadLetter;
use crate::metrics::reload_log::Reload;

/// The page: HTML, CSS and script in one file.
const PAGE: &str = include_str!("page.html");

/// What the page charts.
#[derive(Serialize, utoipa::ToSchema)]
pub struct DashboardData {
    /// Seconds between two samples.
    pub sample_every_secs: u64,
    /// The last minutes, oldest first.
    pub samples: Vec<Sample>,
    /// The latest plugin reloads, newest first.
    pub reloads: Vec<Reload>,
    /// The dead letters of the latest events, latest first (at most
    /// [`RECENT_DEAD_LETTERS`]), as `GET /v1/dead-letters` shows each.
    pub dead_letters: Vec<DeadLetter>,
}

/// How many dead letters the page lists: the latest, since the oldest are
/// the ones an operator has most likely seen already.
pub const RECENT_DEAD_LETTERS: usize = 20;

/// `GET /`: the dashboard page. It holds no data, so it needs no token; its
/// requests for data do.
pub async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE)
}

/// The pipeline's last minutes, for the dashboard.
#[utoipa::path(
    get,
    path = "/v1/dashboard",
    tag = "operations",
    summary = "The last minutes of throughput, failures, queue depth and latency",
    responses((status = 200, description = "Samples, oldest first, recent plugin reloads and the latest dead letters", body = DashboardData)),
)]
pub async fn data(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<DashboardData>, ApiError> {
    caller.require_admin()?;
    let dead_letters = app.backend.newest_dead_letters(RECENT_DEAD_LETTERS).await?;
    Ok(Json(DashboardData {
        sample_every_secs: history::SAMPLE_EVERY.as_secs(),
        samples: app.history.samples(),
        reloads: app.shared.metrics.recent_reloads.recent(),
        dead_letters,
    }))
}
