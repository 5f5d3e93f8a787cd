//! A plugin's circuit breakers, one per (route, tenant), created on first
//! use: when the deliveries one tenant sends through one route keep trapping,
//! only that breaker opens. Every breaker uses its plugin's breaker limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::{Breaker, Status};
use crate::config::BreakerLimits;

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
