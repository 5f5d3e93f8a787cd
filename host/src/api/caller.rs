//! Who is calling: the `Authorization: Bearer` token, looked up in `[auth]`.
//! Handlers take a `Caller` and ask it whether the call may go on: 401 for no
//! token or an unknown one, 403 for a known token outside its tenant.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::config::Principal;
use crate::event::DEFAULT_TENANT;

/// The caller of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Auth is off: anyone may do anything.
    Anyone,
    /// An admin token.
    Admin,
    /// A token of this tenant.
    Tenant(String),
}

impl Caller {
    /// 403 unless the caller may use admin endpoints.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self {
            Caller::Anyone | Caller::Admin => Ok(()),
            Caller::Tenant(own) => Err(ApiError::Forbidden(format!(
                "this endpoint needs an admin token; the token of tenant {own:?} cannot use it"
            ))),
        }
    }

    /// 403 unless the caller may read and write `tenant`'s events.
    pub fn require_tenant(&self, tenant: &str) -> Result<(), ApiError> {
        match self {
            Caller::Tenant(own) if own != tenant => Err(ApiError::Forbidden(format!(
                "the token of tenant {own:?} cannot reach tenant {tenant:?}"
            ))),
            _ => Ok(()),
        }
    }

    /// The tenant the caller is confined to, if any.
    pub fn own_tenant(&self) -> Option<&str> {
        match self {
            Caller::Tenant(own) => Some(own),
            Caller::Anyone | Caller::Admin => None,
        }
    }

    /// Where the caller's idempotency keys live: its tenant's, or for the
    /// admin (and anyone, with auth off) a scope no tenant name can be.
    pub fn key_scope(&self) -> &str {
        self.own_tenant().unwrap_or("*")
    }

    /// The tenant of events that name none: the caller's own.
    pub fn default_tenant(&self) -> &str {
        self.own_tenant().unwrap_or(DEFAULT_TENANT)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Caller, ApiError> {
        let auth = &app.shared.config.auth;
        if !auth.enabled {
            return Ok(Caller::Anyone);
        }
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::Unauthorized("send a token: Authorization: Bearer <token>".into())
        })?;
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.split_once(' '))
            // The scheme's name is case-insensitive (RFC 9110).
            .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token))
            .ok_or_else(|| {
                ApiError::Unauthorized("the Authorization header must be \"Bearer <token>\"".into())
            })?;
        match auth.identify(token.trim()) {
            Some(Principal::Admin) => Ok(Caller::Admin),
            Some(Principal::Tenant(tenant)) => Ok(Caller::Tenant(tenant.clone())),
            None => Err(ApiError::Unauthorized(
                "the token is not one [auth] lists".into(),
            )),
        }
    }
}
