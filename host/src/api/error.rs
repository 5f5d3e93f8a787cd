//! Every HTTP failure, rendered as `{"error": {"code": "...", "message": "..."}}`
//! with the right status. Internal details are logged, never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use weir_core::admission::Shed;
use weir_core::store::StoreError;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs and for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable, e.g. `invalid_event`.
    pub code: &'static str,
    /// Names the problem and, where it can, the fix.
    pub message: String,
}

/// An error answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The body is not JSON.
    #[error("{0}")]
    InvalidJson(String),
    /// The JSON is not a valid event (or batch of events).
    #[error("{0}")]
    InvalidEvent(String),
    /// A query parameter or path segment is wrong.
    #[error("{0}")]
    BadRequest(String),
    /// The Content-Type is not one weir reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is over the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The client took too long to send the request.
    #[error("{0}")]
    RequestTimeout(String),
    /// The batch has more events than one request may carry.
    #[error("{0}")]
    TooManyEvents(String),
    /// No such resource.
    #[error("{0}")]
    NotFound(String),
    /// No such route for this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// Storage cannot take writes now (shutting down, or failed); retry later.
    #[error("storage is unavailable; retry later")]
    Unavailable,
    /// weir is too far behind to take more now.
    #[error("{message}")]
    Overloaded {
        /// What is over which limit.
        message: String,
        /// When to try again.
        retry_after_secs: u64,
    },
    /// The tenant is over its ingest rate.
    #[error("{message}")]
    RateLimited {
        /// Which tenant, which rate.
        message: String,
        /// When enough tokens will be back.
        retry_after_secs: u64,
    },
    /// The tenant has too many deliveries pending.
    #[error("{message}")]
    OverQuota {
        /// Which tenant, which quota.
        message: String,
        /// When to try again.
        retry_after_secs: u64,
    },
    /// The disk is full: nothing was stored; retry once space is freed.
    #[error("the disk is full; nothing was stored; retry later")]
    InsufficientStorage,
    /// A webhook request whose signature is missing, wrong or too old.
    #[error("{0}")]
    InvalidSignature(String),
    /// No token, or one weir does not know, while auth is on.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// With auth off, a `Host` that a rebound DNS name could have sent.
    #[error("{0}")]
    HostNotAllowed(String),
    /// A request with an `Idempotency-Key` another request is still using.
    #[error("{0}")]
    Conflict(String),
    /// An `Idempotency-Key` that was used for a different request.
    #[error("{0}")]
    KeyReused(String),
    /// An event id that several stored events share (with other sources or tenants).
    #[error("{0}")]
    AmbiguousId(String),
    /// An event no route matches, while `[routing] unmatched = "reject"`.
    #[error("{0}")]
    Unrouted(String),
    /// A bug or corruption; details are in the log.
    #[error("internal error; see the weir log")]
    Internal,
}

impl ApiError {
    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidEvent(_) => "invalid_event",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::TooManyEvents(_) => "too_many_events",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Unavailable => "unavailable",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::OverQuota { .. } => "over_quota",
            ApiError::InsufficientStorage => "insufficient_storage",
            ApiError::InvalidSignature(_) => "invalid_signature",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::HostNotAllowed(_) => "host_not_allowed",
            ApiError::Conflict(_) => "idempotency_key_in_use",
            ApiError::KeyReused(_) => "idempotency_key_reused",
            ApiError::AmbiguousId(_) => "ambiguous_event_id",
            ApiError::Unrouted(_) => "unrouted",
            ApiError::Internal => "internal",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_) | ApiError::InvalidEvent(_) | ApiError::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) | ApiError::TooManyEvents(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unavailable | ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited { .. } | ApiError::OverQuota { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
            ApiError::InvalidSignature(_) | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::HostNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::Unrouted(_) | ApiError::KeyReused(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict(_) | ApiError::AmbiguousId(_) => StatusCode::CONFLICT,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<crate::event::ParseError> for ApiError {
    fn from(error: crate::event::ParseError) -> Self {
        use crate::event::ParseError;
        match error {
            ParseError::InvalidJson(message) => ApiError::InvalidJson(message),
            ParseError::InvalidEvent(message) => ApiError::InvalidEvent(message),
            ParseError::TooManyEvents(message) => ApiError::TooManyEvents(message),
        }
    }
}

impl From<Shed> for ApiError {
    fn from(shed: Shed) -> Self {
        match shed {
            Shed::Overloaded {
                message,
                retry_after_secs,
            } => ApiError::Overloaded {
                message,
                retry_after_secs,
            },
            Shed::OverQuota {
                message,
                retry_after_secs,
            } => ApiError::OverQuota {
                message,
                retry_after_secs,
            },
            Shed::RateLimited {
                message,
                retry_after_secs,
            } => ApiError::RateLimited {
                message,
                retry_after_secs,
            },
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::IdReused(message) => ApiError::KeyReused(message),
            StoreError::DiskFull => ApiError::InsufficientStorage,
            StoreError::BadCursor => ApiError::BadRequest(error.to_string()),
            StoreError::NotFound(message) => ApiError::NotFound(message),
            StoreError::Ambiguous(message) => ApiError::AmbiguousId(message),
            StoreError::Unavailable(_) | StoreError::WriteFailed(_) => {
                tracing::error!(%error, "storage cannot answer a request now");
                ApiError::Unavailable
            }
            StoreError::Io(_) | StoreError::Corrupt(_) => {
                tracing::error!(%error, "storage error while answering a request");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        let retry_after = match &self {
            ApiError::Unavailable | ApiError::InsufficientStorage => Some(1),
            ApiError::Overloaded {
                retry_after_secs, ..
            }
            | ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::OverQuota {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        };
        if matches!(self, ApiError::Unauthorized(_)) {
            // RFC 6750: tells the client which scheme to answer with.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::QueueError;

    /// Each store failure answers by what it means, whichever store said it.
    #[test]
    fn store_errors_answer_by_meaning() {
        let answers = [
            (
                StoreError::IdReused("id x".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (StoreError::DiskFull, StatusCode::INSUFFICIENT_STORAGE),
            (
                StoreError::Unavailable("no leader".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::WriteFailed("fsync".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                StoreError::Io("read".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                StoreError::Corrupt("record".into()),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (StoreError::BadCursor, StatusCode::BAD_REQUEST),
            (
                StoreError::NotFound("no event".into()),
                StatusCode::NOT_FOUND,
            ),
            (
                StoreError::Ambiguous("two events".into()),
                StatusCode::CONFLICT,
            ),
        ];
        for (error, status) in answers {
            let shown = error.to_string();
            assert_eq!(ApiError::from(error).status(), status, "{shown}");
        }
    }

    /// The embedded store's errors keep the answers they had.
    #[test]
    fn queue_errors_map_to_the_store_error_of_their_meaning() {
        let damaged = QueueError::Damaged {
            expected: 3,
            found: 5,
        };
        assert!(
            matches!(StoreError::from(damaged), StoreError::Corrupt(m) if m.contains("event 3 is missing"))
        );
        assert_eq!(
            StoreError::from(QueueError::Closed),
            StoreError::Unavailable("the queue is shutting down".into())
        );
        assert_eq!(
            ApiError::from(StoreError::from(QueueError::IdReused("reused".into()))).status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            ApiError::from(StoreError::from(QueueError::DiskFull)).status(),
            StatusCode::INSUFFICIENT_STORAGE
        );
    }
}
