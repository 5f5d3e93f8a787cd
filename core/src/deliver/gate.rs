//! A delivery passes its circuit breaker (`schedule::Breakers`, one per
//! route and tenant) or waits: when the deliveries one tenant sends through
//! one route keep trapping (that tenant's data breaks the plugin, or the
//! downstream of that integration is down), only those wait, while the
//! plugin's other routes and tenants run on.
//!
//! A delivery is attributed to the first route that sends its event to the
//! plugin (none if no route does any more) and to its event's tenant. While
//! that breaker is open the delivery is set aside until the end of the
//! cool-down (no attempt counted, no instance spent); half-open, a few fresh
//! deliveries probe and the rest wait for their verdict. Every breaker uses
//! its plugin's breaker limits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::metrics::Metrics;
use crate::plugins::Plugin;
use crate::route::{RouteOptions, RouteTable};
use crate::schedule::{Permission, Scope, Scoped, Signal};

/// How long a delivery set aside for a half-open breaker waits before it
/// asks again: about as long as a probe takes.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// The breaker a delivery passed, to record its attempts' signals in, and
/// what its route changes about its limits.
pub struct Gate {
    scoped: Arc<Scoped>,
    /// What the route changes about the delivery's limits.
    pub options: Option<RouteOptions>,
}

/// A delivery its breaker holds back: for how long, and whose breaker.
pub struct Closed {
    /// How long to set it aside.
    pub wait: Duration,
    /// The route and tenant whose breaker it is.
    pub scope: Scope,
}

impl Gate {
    /// The gate of a delivery of `event` to `plugin`, if its breaker lets it
    /// run now; `fresh` if no attempt of it ran before.
    pub fn pass(
        routes: &RouteTable,
        plugin: &Plugin,
        event: &Event,
        fresh: bool,
    ) -> Result<Gate, Closed> {
        let route = routes.route_to(event, &plugin.name);
        let scoped = plugin
            .breakers
            .of(route.map(|(name, _)| name), &event.tenant);
        let wait = match scoped.breaker.permission(Instant::now(), fresh) {
            Permission::Run => {
                let options = route.map(|(_, options)| options.clone());
                return Ok(Gate { scoped, options });
            }
            Permission::WaitUntil(until) => until.saturating_duration_since(Instant::now()),
            Permission::WaitForProbes => PROBE_WAIT,
        };
        Err(Closed {
            wait,
            scope: scoped.scope.clone(),
        })
    }

    /// Records an attempt's signal; counts and logs a trip.
    pub fn record(&self, metrics: &Metrics, plugin: &Plugin, signal: Signal) {
        let scoped = &self.scoped;
        let Some(trip) = scoped.breaker.record(Instant::now(), signal) else {
            return;
        };
        let scope = &scoped.scope;
        tracing::warn!(route = ?scope.route, tenant = %scope.tenant,
            reason = trip.reason, rate = trip.rate, calls = trip.calls, probe = trip.probe,
            cooldown = ?trip.until.saturating_duration_since(Instant::now()),
            "circuit breaker open: these deliveries wait out the cool-down");
        metrics.breaker_tripped(&plugin.name, trip.reason);
    }
}
