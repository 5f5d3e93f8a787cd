//! `POST /v1/webhooks/{name}`: a third-party sender's request, any body, becomes
//! one event once its signature checks out against `[webhooks.NAME]`. The body
//! is the event's data, byte for byte; its Content-Type the data's type.

use axum::body::Body;
use axum::extract::State;

use crate::api::extract::Path;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde_json::Map;
use sha2::{Digest, Sha256};

use super::Accepted;
use super::{admit_body, count_rejection, signature, store};
use crate::api::{ApiError, AppState, ErrorBody};
use crate::config::{EventType, Scheme, Webhook};
use crate::event::{DEFAULT_TENANT, Event, parse_event};

/// The handler of `POST /v1/webhooks/{name}`.
#[utoipa::path(
    post,
    path = "/v1/webhooks/{name}",
    tag = "webhooks",
    summary = "Take a third-party webhook",
    description = "Any body, verified against `[webhooks.NAME]` (Standard Webhooks, Stripe or \
        an HMAC header), becomes one event whose data is the body byte for byte. Its id comes \
        from signed material (`webhook-id`, the Stripe body's `id`, the SHA-256 of an HMAC-signed \
        body), so a resend is a duplicate.",
    params(("name" = String, Path, description = "The sender's name in `[webhooks]`")),
    request_body(description = "The sender's body, as it sent it", content(("*/*"))),
    responses(
        (status = 202, description = "Verified and stored", body = Accepted),
        (status = 400, description = "Signed, but not an event: a Stripe body without a string `id`, no type in the header or body member that gives it: `invalid_event`", body = ErrorBody),
        (status = 401, description = "The signature is missing, wrong or too old: `invalid_signature`", body = ErrorBody),
        (status = 404, description = "No such sender is configured", body = ErrorBody),
    ),
    security(()),
)]
pub async fn post_webhook(
    State(app): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let answer = admit_webhook(&app, &name, &headers, body).await;
    count_rejection(&app, &answer);
    answer
}

async fn admit_webhook(
    app: &AppState,
    name: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(webhook) = app.shared.config.webhooks.get(name) else {
        return Err(ApiError::NotFound(format!(
            "no webhook sender {name:?} is configured (add a [webhooks.{name}] section)"
        )));
    };
    let refuse = |message: String| {
        tracing::warn!(webhook = %name, %message, "webhook refused: bad signature");
        ApiError::InvalidSignature(format!("{message}; nothing was stored"))
    };
    // Headers first: a request that cannot be genuine holds no body in memory.
    let claim =
        signature::claim(webhook, headers, crate::event::now_ms() / 1000).map_err(refuse)?;
    let body = admit_body(app, body).await?;
    claim.verify(&webhook.secrets, &body).map_err(refuse)?;
    let event = webhook_event(webhook, headers, &body)?;
    store(app, vec![event], None).await
}

/// The event a verified request becomes. Its id comes from what the
/// signature covers, so a resend, whatever headers it changes, is recognized
/// as a duplicate.
fn webhook_event(webhook: &Webhook, headers: &HeaderMap, body: &[u8]) -> Result<Event, ApiError> {
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        headers
            .get(name)
            .map(|value| {
                value
                    .to_str()
                    .map(str::to_owned)
                    .map_err(|_| ApiError::InvalidEvent(format!("the {name} header is not text")))
            })
            .transpose()
    };
    let id = match &webhook.scheme {
        // Signed with the body; verify has checked that it is there.
        Scheme::Standard { .. } => text("webhook-id")?.unwrap_or_default(),
        Scheme::Stripe { .. } => body_member(body, "id", "a Stripe webhook body")?,
        Scheme::Hmac { .. } => format!("sha256:{}", hex::encode(Sha256::digest(body))),
    };
    let kind = match &webhook.event_type {
        EventType::Fixed(kind) => kind.clone(),
        EventType::Header(name) => text(name)?.ok_or_else(|| {
            ApiError::InvalidEvent(format!(
                "the {name} header, which gives the event type, is missing"
            ))
        })?,
        EventType::BodyField(field) => body_member(
            body,
            field,
            &format!("with type_field = {field:?}, the body"),
        )?,
    };
    let mut attributes = Map::new();
    attributes.insert("id".into(), id.into());
    attributes.insert("source".into(), webhook.source.clone().into());
    attributes.insert("type".into(), kind.into());
    attributes.insert("tenant".into(), webhook.tenant.clone().into());
    let mut event = parse_event(attributes, DEFAULT_TENANT).map_err(ApiError::InvalidEvent)?;
    event.datacontenttype = text(header::CONTENT_TYPE.as_str())?;
    event.data = body.to_vec();
    Ok(event)
}

/// The top-level string `member` of a signed JSON body: a Stripe event's
/// `id` (Stripe sends no id header, and a resend carries the same id), or the
/// event type `type_field` names. `what` names the rule in the error.
fn body_member(body: &[u8], member: &str, what: &str) -> Result<String, ApiError> {
    let value: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    value
        .as_ref()
        .and_then(|value| value.get(member))
        .and_then(serde_json::Value::as_str)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            ApiError::InvalidEvent(format!(
                "{what} must be a JSON object with a non-empty string {member:?}, which weir \
                 takes from the signed body; nothing was stored"
            ))
        })
}
