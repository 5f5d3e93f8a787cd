//! What stands in for tokens on a weir without `[auth]`: the admin API and the
//! dashboard answer only requests a web page on another site cannot make.
//!
//! - **Host.** The `Host` must be `localhost`, a loopback address or the
//!   listen address's host (any IP address when weir listens on all of them).
//!   DNS rebinding points a name the attacker owns at 127.0.0.1, so a page on
//!   that name reaches a loopback weir with its own name as `Host`; an IP
//!   address cannot be rebound.
//! - **POST.** A POST must say `Content-Type: application/json` (a `+json`
//!   type too), even with no body (pause, resume, dead-letter replay): an HTML
//!   form can send only `text/plain`, form and multipart bodies, and a script
//!   on another site cannot send a JSON type without a CORS preflight, which
//!   weir never grants. Only POST needs it: every other method a script may
//!   use (DELETE here) is preflighted too.
//!
//! Ingest (`POST /v1/events`, webhooks) and the health checks are outside the
//! guard: senders reach them through proxies and tunnels under other names.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use super::body::require_json_type;
use super::{ApiError, AppState};

/// Runs the request if auth is on or it passes both rules; refuses it otherwise.
pub async fn guard(
    State(app): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if !app.shared.config.auth.enabled {
        check_host(
            request.headers(),
            request.uri(),
            app.shared.config.listen.ip(),
        )?;
        if request.method() == Method::POST {
            check_post_media_type(request.headers())?;
        }
    }
    Ok(next.run(request).await)
}

/// Refuses a request whose `Host` is not one a loopback weir may be called by.
fn check_host(headers: &HeaderMap, uri: &Uri, listen: IpAddr) -> Result<(), ApiError> {
    let given = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        // HTTP/2 carries it in the URI's authority rather than a header.
        .or_else(|| uri.authority().map(Authority::to_string));
    let Some(given) = given else {
        return Err(ApiError::HostNotAllowed(format!(
            "the request names no Host; {RULE}"
        )));
    };
    if host_allowed(&given, listen) {
        Ok(())
    } else {
        Err(ApiError::HostNotAllowed(format!(
            "Host {given:?} is not allowed; {RULE}"
        )))
    }
}

/// The Host rule, as the refusal states it.
const RULE: &str = "with no [auth], the admin API and the dashboard answer only Host \
    localhost, a loopback address or the listen address (a guard against DNS rebinding); \
    call weir by one of those, or list tokens under [auth]";

/// Whether `given` (`name[:port]`) names this weir by a name no one can rebind.
fn host_allowed(given: &str, listen: IpAddr) -> bool {
    let Ok(authority) = given.parse::<Authority>() else {
        return false;
    };
    let host = authority.host().trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || ip == listen || listen.is_unspecified(),
        Err(_) => false,
    }
}

/// Refuses a POST that does not say its body is JSON.
fn check_post_media_type(headers: &HeaderMap) -> Result<(), ApiError> {
    require_json_type(
        headers,
        "with no [auth], a POST to the admin API must send Content-Type: application/json, \
         even with no body, so that a form on another web site cannot send it",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(given: &str, listen: &str) -> bool {
        host_allowed(given, listen.parse().expect("address"))
    }

    #[test]
    fn loopback_names_and_the_listen_host_are_allowed() {
        for given in [
            "localhost",
            "LocalHost:8080",
            "localhost.:8080",
            "127.0.0.1:8080",
            "127.9.9.9",
            "[::1]:8080",
        ] {
            assert!(allowed(given, "127.0.0.1"), "{given}");
        }
        assert!(allowed("192.0.2.7:8080", "192.0.2.7"));
        assert!(allowed("192.0.2.7:8080", "0.0.0.0"), "listening everywhere");
        assert!(allowed("[2001:db8::1]:8080", "::"), "listening everywhere");
    }

    #[test]
    fn names_that_can_be_rebound_and_other_addresses_are_refused() {
        for given in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "192.0.2.7:8080",
            "",
            "not a host",
        ] {
            assert!(!allowed(given, "127.0.0.1"), "{given}");
        }
        assert!(
            !allowed("evil.example", "0.0.0.0"),
            "a name, even listening everywhere"
        );
    }
}
