//! Outbound HTTP from a handler (`wasi:http`): a request goes out only to a
//! host the plugin was granted, to an address checked against the reserved
//! ranges (`connect.rs`) and through the host's [`Transport`], at most [`bounds::HTTP_REQUESTS`] per delivery carrying at most
//! [`bounds::HTTP_BODY_BYTES`] of bodies (`egress_bytes.rs`);
//! it carries the delivery's idempotency key so the receiver can drop the
//! repeats that at-least-once execution brings, and waits no longer than the
//! plugin's deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use http::HeaderValue;
use http::uri::Scheme;
use sha2::{Digest, Sha256};
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::connect::{self, Sent, Target, Timeouts, Transport};
use super::context::bounds;
use super::egress_bytes::{self, Carried, Direction};
use super::execute::Attempt;
use super::plugin::Version;
use crate::capabilities::Capabilities;
use crate::event::Event;

/// The header that carries the delivery's idempotency key.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// One delivery's outbound HTTP policy.
pub struct Egress {
    capabilities: Arc<Capabilities>,
    plugin: Arc<str>,
    event_id: String,
    event_key: String,
    generation: u32,
    deadline: Duration,
    /// Requests sent that got no answer or a 5xx: what the circuit breakers
    /// count as a failed outbound call. Shared with the response futures.
    failures: Arc<AtomicU32>,
    /// Requests sent so far by this delivery.
    requests: u32,
    /// Bytes of bodies its requests sent and received so far, shared with
    /// the bodies in flight (see `egress_bytes.rs`).
    carried: Carried,
    /// What carries a checked request to a checked address.
    transport: Arc<dyn Transport>,
}

impl Egress {
    /// The policy of `attempt` on `version`.
    pub fn new(version: &Version, attempt: &Attempt<'_>) -> Egress {
        Egress {
            capabilities: version.capabilities.clone(),
            plugin: version.name.clone(),
            event_id: attempt.event.id.clone(),
            event_key: event_key(attempt.event),
            generation: attempt.generation,
            deadline: attempt.limits.deadline,
            failures: Arc::default(),
            requests: 0,
            carried: Carried {
                bytes: Arc::default(),
                plugin: version.name.clone(),
            },
            transport: version.transport.clone(),
        }
    }

    /// How many requests sent so far failed (no answer, or a 5xx). A
    /// request the plugin was not granted is not counted: that is its
    /// configuration, not its downstream.
    pub fn failures(&self) -> u32 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The key of this delivery: the same for every attempt, another for a
    /// replay's re-run (which is meant to apply its effects again).
    fn idempotency_key(&self) -> String {
        match self.generation {
            0 => format!("{}/{}", self.plugin, self.event_key),
            generation => format!("{}/{}/{generation}", self.plugin, self.event_key),
        }
    }
}

/// The event's identity (tenant, source, id) as 32 hex digits: printable in a
/// header whatever the id holds, and the same if the data directory is
/// ever started afresh, unlike a sequence number.
fn event_key(event: &Event) -> String {
    let digest = Sha256::new()
        .chain_update(&event.tenant)
        .chain_update([0])
        .chain_update(&event.source)
        .chain_update([0])
        .chain_update(&event.id)
        .finalize();
    hex::encode(&digest[..16])
}

impl WasiHttpHooks for Egress {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn std::future::Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn std::future::Future<Output = Sent> + Send> {
        let uri = request.uri();
        let https = uri.scheme() == Some(&Scheme::HTTPS);
        let target = Target {
            host: uri.host().unwrap_or_default().to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            tls: https,
        };
        let (plugin, event_id) = (self.plugin.clone(), self.event_id.clone());
        let (host, port) = (target.host.clone(), target.port);
        self.requests += 1;
        if self.requests > bounds::HTTP_REQUESTS {
            tracing::warn!(%plugin, %event_id, %host, port, limit = bounds::HTTP_REQUESTS,
                "outbound HTTP request refused: the delivery has sent {} requests, the most one delivery may send", bounds::HTTP_REQUESTS);
            return Box::new(async { Err(Error::ConnectionLimitReached) });
        }
        if !self.capabilities.allows_http(&host, port) {
            tracing::warn!(%plugin, %event_id, %host, port,
                "outbound HTTP request denied: weir.toml does not grant the plugin this host ([plugins.{plugin}.capabilities] http)");
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // Plugin names and hex digits are printable ASCII.
        if let Ok(key) = HeaderValue::from_str(&self.idempotency_key()) {
            request.headers_mut().insert(IDEMPOTENCY_KEY_HEADER, key);
        }
        // Never wait past the deadline (the default is ten minutes per phase).
        let bound =
            |asked: Option<Duration>| asked.map_or(self.deadline, |asked| asked.min(self.deadline));
        let options = options.unwrap_or_default();
        let timeouts = Timeouts {
            connect: bound(options.connect_timeout),
            first_byte: bound(options.first_byte_timeout),
        };
        let capabilities = self.capabilities.clone();
        let failures = self.failures.clone();
        let transport = self.transport.clone();
        let carried = self.carried.clone();
        let request =
            request.map(|body| egress_bytes::count(body, carried.clone(), Direction::Sent));
        Box::new(async move {
            let addresses = match connect::resolve(&target, &capabilities, timeouts.connect).await {
                Ok(addresses) => addresses,
                Err(refused) => {
                    tracing::warn!(%plugin, %event_id, %host, port,
                        "outbound HTTP request refused: {refused}");
                    return Err(refused.code());
                }
            };
            let sent = transport
                .send(request, target, addresses, timeouts)
                .await
                .map(|(response, io)| {
                    let response = response
                        .map(|body| egress_bytes::count(body, carried, Direction::Received));
                    (response, io)
                });
            // No answer, or a 5xx: the downstream is unwell (a refusal above
            // is weir's own rule, not the downstream's health).
            if sent
                .as_ref()
                .map_or(true, |(response, _)| response.status().is_server_error())
            {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            sent
        })
    }
}
