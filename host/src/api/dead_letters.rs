//! The dead letters: list them (`GET /v1/dead-letters`), replay one event's
//! (`POST /v1/dead-letters/{id}/replay`) or every match of a filter
//! (`POST /v1/dead-letters/replay`), discard one event's
//! (`DELETE /v1/dead-letters/{id}`).
//!
//! A replayed delivery is ready again with a fresh round of attempts and its
//! history kept. It runs as soon as a slot is free, ahead of any ordering-key
//! line it once stood in: replaying is an operator's decision.

use axum::Json;
use axum::extract::State;

use super::extract::{Path, Query};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, AppState, Caller, ErrorBody, event_ref};
use crate::backend::{DeadLetter, DeadLetterPage, EventLetters};
use crate::metrics::plugin as plugin_label;
use weir_core::store::DeadFilter;

/// Default and largest page of `GET /v1/dead-letters`.
const PAGE: usize = 100;
const MAX_PAGE: usize = 1000;
/// Default and largest number of deliveries one bulk replay revives.
const BULK: usize = 1000;
const MAX_BULK: usize = 10_000;

const CURSOR: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Filter and paging of the listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this plugin's.
    plugin: Option<String>,
    /// Only this tenant's.
    tenant: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// How many (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The listing's `next_cursor`, for the next page (unpadded base64url).
    #[param(
        pattern = "^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-][AQgw]|[A-Za-z0-9_-]{2}[AEIMQUYcgkosw048])?$"
    )]
    cursor: Option<String>,
}

/// Filter of the bulk replay; it takes no cursor, since replayed letters
/// leave the list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// Only this plugin's.
    plugin: Option<String>,
    /// Only this tenant's.
    tenant: Option<String>,
    /// Only events of this type.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// How many at most (default 1,000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// The filter of `plugin`, `tenant` and `kind`, confined to the caller's tenant.
fn filter(
    caller: &Caller,
    plugin: &Option<String>,
    tenant: &Option<String>,
    kind: &Option<String>,
) -> Result<DeadFilter, ApiError> {
    if let Some(tenant) = tenant {
        caller.require_tenant(tenant)?;
    }
    Ok(DeadFilter {
        plugin: plugin.clone(),
        tenant: caller
            .own_tenant()
            .map(str::to_owned)
            .or_else(|| tenant.clone()),
        kind: kind.clone(),
    })
}

/// `limit`, or `default` if not given; 400 outside 1 to `max`.
fn limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if limit == 0 || limit > max {
        return Err(ApiError::BadRequest(format!("limit must be 1 to {max}")));
    }
    Ok(limit)
}

impl ListQuery {
    fn cursor(&self) -> Result<Option<Vec<u8>>, ApiError> {
        self.cursor
            .as_deref()
            .map(|cursor| {
                CURSOR.decode(cursor).map_err(|_| {
                    ApiError::BadRequest("cursor is not one this API handed out".into())
                })
            })
            .transpose()
    }
}

/// Which plugin's delivery of one event an operation is about (all if none).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OneEventQuery {
    /// Only the delivery to this plugin.
    plugin: Option<String>,
    /// The event's tenant, if several events have the id.
    tenant: Option<String>,
    /// The event's source, if several events have the id.
    source: Option<String>,
}

/// `GET /v1/dead-letters`.
#[utoipa::path(
    get,
    path = "/v1/dead-letters",
    tag = "dead-letters",
    summary = "List dead letters, oldest first",
    params(ListQuery),
    responses(
        (status = 200, description = "The dead letters (event, plugin, attempts, last error), and where the next page starts", body = DeadLetterListing),
        (status = 400, description = "A bad limit or cursor", body = ErrorBody),
    ),
)]
pub async fn list(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<DeadLetterListing>, ApiError> {
    let page = DeadLetterPage {
        filter: filter(&caller, &query.plugin, &query.tenant, &query.kind)?,
        cursor: query.cursor()?,
        limit: limit(query.limit, PAGE, MAX_PAGE)?,
    };
    let listing = app.backend.dead_letters(page).await?;
    Ok(Json(DeadLetterListing {
        dead_letters: listing.letters,
        next_cursor: listing.next.map(|key| CURSOR.encode(key)),
    }))
}

/// A page of `GET /v1/dead-letters`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterListing {
    /// The dead letters, oldest first.
    pub dead_letters: Vec<DeadLetter>,
    /// The `cursor` of the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// What a bulk replay revived.
#[derive(Debug, Serialize, ToSchema)]
pub struct BulkReplayed {
    /// How many deliveries are ready again.
    pub replayed: usize,
    /// Whether more dead letters match: call again to replay them.
    pub more: bool,
}

/// What became of one event's dead deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventDeadLetters {
    /// The event's id.
    pub id: String,
    /// On replay: the plugins whose deliveries are ready again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replayed: Option<Vec<String>>,
    /// On discard: the plugins whose deliveries were discarded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discarded: Option<Vec<String>>,
}

/// `POST /v1/dead-letters/replay`: revives up to `limit` matches; call again
/// while `more` is true.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/replay",
    tag = "dead-letters",
    summary = "Replay every dead letter that matches",
    params(BulkQuery),
    responses(
        (status = 200, description = "How many were `replayed`, and whether `more` match", body = BulkReplayed),
        (status = 400, description = "A bad limit, or an unknown parameter (a bulk replay takes no cursor)", body = ErrorBody),
    ),
)]
pub async fn replay_matching(
    State(app): State<AppState>,
    caller: Caller,
    Query(query): Query<BulkQuery>,
) -> Result<Json<BulkReplayed>, ApiError> {
    let limit = limit(query.limit, BULK, MAX_BULK)?;
    let filter = filter(&caller, &query.plugin, &query.tenant, &query.kind)?;
    let revived = app.backend.revive_matching(filter, limit).await?;
    count_replayed(&app, &revived.plugins);
    Ok(Json(BulkReplayed {
        replayed: revived.plugins.len(),
        more: revived.more,
    }))
}

/// `POST /v1/dead-letters/{id}/replay`.
#[utoipa::path(
    post,
    path = "/v1/dead-letters/{id}/replay",
    tag = "dead-letters",
    summary = "Replay one event's dead deliveries",
    params(("id" = String, Path, description = "The event id"), OneEventQuery),
    responses(
        (status = 200, description = "The plugins whose deliveries were `replayed`", body = EventDeadLetters),
        (status = 404, description = "No such event, or it has no dead delivery", body = ErrorBody),
        (status = 409, description = "Several events have the id", body = ErrorBody),
    ),
)]
pub async fn replay_event(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<OneEventQuery>,
) -> Result<Json<EventDeadLetters>, ApiError> {
    let replayed = app
        .backend
        .revive_event(query.letters(&caller, &id)?)
        .await?;
    count_replayed(&app, &replayed);
    Ok(Json(EventDeadLetters {
        id,
        replayed: Some(replayed),
        discarded: None,
    }))
}

/// `DELETE /v1/dead-letters/{id}`.
#[utoipa::path(
    delete,
    path = "/v1/dead-letters/{id}",
    tag = "dead-letters",
    summary = "Discard one event's dead deliveries",
    params(("id" = String, Path, description = "The event id"), OneEventQuery),
    responses(
        (status = 200, description = "The plugins whose deliveries were `discarded`", body = EventDeadLetters),
        (status = 404, description = "No such event, or it has no dead delivery", body = ErrorBody),
        (status = 409, description = "Several events have the id", body = ErrorBody),
    ),
)]
pub async fn discard_event(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(query): Query<OneEventQuery>,
) -> Result<Json<EventDeadLetters>, ApiError> {
    let discarded = app
        .backend
        .discard_event(query.letters(&caller, &id)?)
        .await?;
    Ok(Json(EventDeadLetters {
        id,
        replayed: None,
        discarded: Some(discarded),
    }))
}

impl OneEventQuery {
    /// The dead deliveries of event `id` this query names, for `caller`: a
    /// tenant's token names its own tenant's event.
    fn letters(&self, caller: &Caller, id: &str) -> Result<EventLetters, ApiError> {
        let (tenant, source) = (self.tenant.as_deref(), self.source.as_deref());
        Ok(EventLetters {
            event: event_ref::named(caller, id, tenant, source)?,
            plugin: self.plugin.clone(),
        })
    }
}

/// Counts a replayed dead delivery of each of `plugins`.
fn count_replayed(app: &AppState, plugins: &[String]) {
    let replayed = &app.shared.metrics.dead_letters_replayed;
    for plugin in plugins {
        replayed.get_or_create(&plugin_label(plugin)).inc();
    }
}
