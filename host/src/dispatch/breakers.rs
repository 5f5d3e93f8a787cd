//! A plugin's circuit breakers, one per (route, tenant): when the deliveries
//! one tenant sends through one route keep trapping (that tenant's data breaks
//! the plugin, or the downstream of that integration is down), only those
//! wait, while the plugin's other routes and tenants run on.
//!
//! A delivery is attributed to the first route that sends its event to the
//! plugin (none if no route does any more) and to its event's tenant. While
//! that breaker is open the delivery is deferred to the end of the cool-down
//! (`queue/parking.rs`: scheduled, no attempt counted, no instance spent);
//! half-open, a few fresh deliveries probe and the rest wait for their
//! verdict. Every breaker uses its plugin's breaker limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::BreakerLimits;
use crate::event::{Event, now_ms};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::plugins::Plugin;
use crate::queue::{Leased, QueueError};
use crate::route::{RouteOptions, RouteTable};
use crate::schedule::Signal;
use crate::schedule::{Breaker, Permission, Status};

/// How long a delivery deferred for a half-open breaker waits before it asks
/// again: about as long as a probe takes.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// Breakers kept before closed, idle ones are forgotten: tenants come and go,
/// and a closed breaker with an empty window holds nothing worth keeping.
const MAX_IDLE_KEPT: usize = 4096;

/// What a breaker guards: one route's deliveries of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// The route the deliveries are attributed to; `None` if no route sends
    /// their events to the plugin now.
    pub route: Option<String>,
    /// The events' tenant.
    pub tenant: String,
}

/// A breaker and what it guards.
pub struct Scoped {
    /// The route and tenant whose deliveries it holds back.
    pub scope: Scope,
    /// The policy.
    pub breaker: Breaker,
}

/// Breakers by tenant, then by route name (`""`: no route), so that the
/// lookup each delivery makes borrows its strings instead of allocating.
type ByTenant = HashMap<String, HashMap<String, Arc<Scoped>>>;

/// One plugin's breakers, by scope, created on first use.
pub struct Breakers {
    limits: BreakerLimits,
    breakers: Mutex<ByTenant>,
}

impl Breakers {
    /// No breakers yet; each will use `limits`.
    pub fn new(limits: BreakerLimits) -> Breakers {
        Breakers {
            limits,
            breakers: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ByTenant> {
        self.breakers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The breaker of `route` and `tenant`.
    pub fn of(&self, route: Option<&str>, tenant: &str) -> Arc<Scoped> {
        let route_key = route.unwrap_or_default();
        let mut breakers = self.lock();
        if let Some(scoped) = breakers
            .get(tenant)
            .and_then(|routes| routes.get(route_key))
        {
            return scoped.clone();
        }
        if breakers.values().map(HashMap::len).sum::<usize>() >= MAX_IDLE_KEPT {
            let now = Instant::now();
            for routes in breakers.values_mut() {
                routes.retain(|_, scoped| !scoped.breaker.is_idle(now));
            }
            breakers.retain(|_, routes| !routes.is_empty());
        }
        let scoped = Arc::new(Scoped {
            scope: Scope {
                route: route.map(str::to_owned),
                tenant: tenant.to_owned(),
            },
            breaker: Breaker::new(self.limits.clone()),
        });
        breakers
            .entry(tenant.to_owned())
            .or_default()
            .insert(route_key.to_owned(), scoped.clone());
        scoped
    }

    /// The breakers that are not closed, with why they opened, in scope order.
    pub fn not_closed(&self) -> Vec<(Scope, Status)> {
        let mut found: Vec<(Scope, Status)> = self
            .lock()
            .values()
            .flat_map(HashMap::values)
            .map(|scoped| (scoped.scope.clone(), scoped.breaker.status()))
            .filter(|(_, status)| status.trip.is_some())
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        found
    }
}

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
