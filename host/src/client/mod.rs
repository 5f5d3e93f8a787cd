//! The admin commands — `weir status`, `weir events show`, `weir dlq`,
//! `weir plugins`, `weir send` — as a client of a running weir's HTTP API, so
//! they work against any weir the operator can reach.

mod dlq;
mod event;
pub mod out;
mod send;
mod show;
mod status;
mod table;

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

pub use dlq::{DeadFilter, list_dead_letters, replay_dead_letters};
pub use event::show_event;
pub use send::send;
pub use show::show_plugins;
pub use status::status;

/// How long one API call may take before the command gives up.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Which weir the admin commands talk to, and as whom.
#[derive(Debug, clap::Args)]
pub struct Remote {
    /// The running weir's address.
    #[arg(
        long,
        env = "WEIR_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// An API token, when weir has `[auth]` tokens: the admin's, or a
    /// tenant's for its own events.
    #[arg(long, env = "WEIR_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

impl Remote {
    /// A client of that weir.
    pub fn client(&self) -> Client {
        Client::new(&self.url, self.token.clone())
    }
}

/// A running weir and the token to call it with.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of the weir at `url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(url: &str, token: Option<String>) -> Client {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .build()
            .into();
        Client {
            base: url.trim_end_matches('/').to_owned(),
            token: token.filter(|token| !token.is_empty()),
            agent,
        }
    }

    /// `GET path`: its JSON answer, or an error that says what went wrong.
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let request = self.authorized(self.agent.get(format!("{}{path}", self.base)));
        self.answer(path, request.call())
    }

    /// `POST path` with a JSON `body` (empty for none). The Content-Type is
    /// JSON even with no body: a weir without `[auth]` refuses an admin POST
    /// without it (`api/open_guard.rs`).
    pub fn post(&self, path: &str, body: &[u8]) -> anyhow::Result<Value> {
        let request = self
            .authorized(self.agent.post(format!("{}{path}", self.base)))
            .header("content-type", "application/json");
        self.answer(path, request.send(body))
    }

    /// `request` with the token, if there is one.
    fn authorized<B>(&self, request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(token) => request.header("authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    fn answer(
        &self,
        path: &str,
        sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut response = sent.with_context(|| {
            format!(
                "cannot reach weir at {}: is `weir serve` running there? (set --url or WEIR_URL)",
                self.base
            )
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("cannot read weir's answer to {path}"))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status >= 400 {
            let error = &body["error"];
            let (code, message) = match (error["code"].as_str(), error["message"].as_str()) {
                (Some(code), Some(message)) => (code.to_owned(), message.to_owned()),
                _ => (format!("HTTP {status}"), body.to_string()),
            };
            return Err(Refused {
                path: path.to_owned(),
                status,
                code,
                message,
            }
            .into());
        }
        Ok(body)
    }
}

/// weir answered a call with an error: kept whole, so that a command can say
/// more about it (`weir send` names the line of the event it was about).
#[derive(Debug, thiserror::Error)]
#[error("{path}: {code}: {message}{}", hint(*.status))]
pub struct Refused {
    /// The path called.
    pub path: String,
    /// The HTTP status.
    pub status: u16,
    /// The error body's code (`invalid_event`), or `HTTP 502` when the
    /// answer was not weir's error body.
    pub code: String,
    /// The error body's message, or the whole answer.
    pub message: String,
}

/// What to do about an answer with `status`, if the answer alone does not say.
fn hint(status: u16) -> &'static str {
    match status {
        401 => " (pass a token with --token or WEIR_TOKEN)",
        _ => "",
    }
}

/// A query string from the parameters that are set, percent-encoded.
fn query(parameters: &[(&str, Option<&str>)]) -> String {
    let set: Vec<String> = parameters
        .iter()
        .filter_map(|(name, value)| value.map(|value| format!("{name}={}", segment(value))))
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!("?{}", set.join("&"))
    }
}

/// What a path segment or query value keeps as it is: RFC 3986's unreserved
/// characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded as one path segment (or query value).
fn segment(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// The array at `value`, or none.
fn list(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// `value` as text for a table cell: strings bare, `-` for null.
fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}
