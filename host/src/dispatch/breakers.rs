//! A leased delivery passes its circuit breaker (`schedule::Breakers`, one
//! per route and tenant) or waits: when the deliveries one tenant sends
//! through one route keep trapping (that tenant's data breaks the plugin, or
//! the downstream of that integration is down), only those wait, while the
//! plugin's other routes and tenants run on.
//!
//! A delivery is attributed to the first route that sends its event to the
//! plugin (none if no route does any more) and to its event's tenant. While
//! that breaker is open the delivery is deferred to the end of the cool-down
//! (`queue/parking.rs`: scheduled, no attempt counted, no instance spent);
//! half-open, a few fresh deliveries probe and the rest wait for their
//! verdict. Every breaker uses its plugin's breaker limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::{Event, now_ms};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::plugins::Plugin;
use crate::queue::{Leased, QueueError};
use crate::route::{RouteOptions, RouteTable};
use crate::schedule::{Permission, Scoped, Signal};

/// How long a delivery deferred for a half-open breaker waits before it asks
/// again: about as long as a probe takes.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// The breaker a delivery passed, to record its attempts' signals in, and
/// what its route changes about its limits.
pub(super) struct Gate {
    scoped: Arc<Scoped>,
    /// What the route changes about the delivery's limits.
    pub(super) options: Option<RouteOptions>,
}

impl Gate {
    /// Records an attempt's signal; counts and logs a trip.
    pub(super) fn record(&self, metrics: &Metrics, plugin: &Plugin, signal: Signal) {
        let Some(trip) = self.scoped.breaker.record(Instant::now(), signal) else {
            return;
        };
        let scope = &self.scoped.scope;
        tracing::warn!(route = ?scope.route, tenant = %scope.tenant,
            reason = trip.reason, rate = trip.rate, calls = trip.calls, probe = trip.probe,
            cooldown = ?trip.until.saturating_duration_since(Instant::now()),
            "circuit breaker open: these deliveries wait out the cool-down");
        metrics.breaker_tripped(&plugin.name, trip.reason);
    }
}

/// Lets `leased` run if its breaker allows, returning it with the gate to
/// record its signals in; defers it and returns `None` otherwise.
pub(super) fn pass_breaker(
    pipeline: &Pipeline,
    routes: &RouteTable,
    plugin: &Plugin,
    leased: Leased,
    event: &Event,
) -> Result<Option<(Leased, Gate)>, QueueError> {
    let route = routes.route_to(event, &plugin.name);
    let scoped = plugin
        .breakers
        .of(route.map(|(name, _)| name), &event.tenant);
    // The lease counted this attempt: a delivery that never ran is on its first.
    let fresh = leased.record.attempts <= 1;
    let wait = match scoped.breaker.permission(Instant::now(), fresh) {
        Permission::Run => {
            let options = route.map(|(_, options)| options.clone());
            let gate = Gate { scoped, options };
            return Ok(Some((leased, gate)));
        }
        Permission::WaitUntil(until) => until.saturating_duration_since(Instant::now()),
        Permission::WaitForProbes => PROBE_WAIT,
    };
    let due_ms = now_ms() + wait.as_millis() as u64;
    let mut staging = pipeline.queue.stage();
    if staging.defer(&leased, due_ms)? {
        pipeline.commit(staging)?;
        let scope = &scoped.scope;
        tracing::info!(route = ?scope.route, tenant = %scope.tenant, due_ms,
            "circuit breaker open: delivery deferred");
    }
    Ok(None)
}
