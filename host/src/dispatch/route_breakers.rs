//! Circuit breakers per route: when the deliveries one route sends to a plugin
//! keep failing (say, the events of one integration whose downstream is down),
//! only that route's deliveries wait, while the plugin's other routes run on.
//!
//! A delivery is attributed to the first route that sends its event to the
//! plugin. While that route's breaker is open the delivery is deferred to the
//! end of the cool-down (`queue/parking.rs`: scheduled, no attempt counted);
//! once half-open, a few probes run and the rest wait for their verdict. Each
//! route breaker uses its plugin's breaker limits.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Breaker, BreakerState, Permission};
use crate::config::BreakerLimits;
use crate::event::{Event, now_ms};
use crate::metrics::RouteLabels;
use crate::pipeline::Pipeline;
use crate::queue::{Leased, QueueError};
use crate::route::{RouteOptions, RouteTable};
use crate::runtime::Plugin;

/// How long a delivery deferred for a half-open breaker waits before it asks
/// again: about as long as a probe takes.
const PROBE_WAIT: Duration = Duration::from_secs(1);

/// One plugin's breakers, by route, created on first use.
pub struct RouteBreakers {
    limits: BreakerLimits,
    breakers: Mutex<HashMap<String, Arc<Breaker>>>,
}

impl RouteBreakers {
    /// No breakers yet; each will use `limits`.
    pub fn new(limits: BreakerLimits) -> RouteBreakers {
        RouteBreakers {
            limits,
            breakers: Mutex::default(),
        }
    }

    /// The breaker of `route`.
    pub fn of(&self, route: &str) -> Arc<Breaker> {
        let mut breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        // Asked once per delivery: look up before allocating the key.
        if let Some(breaker) = breakers.get(route) {
            return breaker.clone();
        }
        breakers
            .entry(route.to_owned())
            .or_insert_with(|| Arc::new(Breaker::new(self.limits.clone())))
            .clone()
    }

    /// Every route breaker's state, by route.
    pub fn states(&self) -> BTreeMap<String, BreakerState> {
        let breakers = self.breakers.lock().unwrap_or_else(|p| p.into_inner());
        breakers
            .iter()
            .map(|(route, breaker)| (route.clone(), breaker.state()))
            .collect()
    }
}

/// The delivery's route and its breaker, to record the attempt's outcome in.
pub(super) struct RouteGate {
    route: String,
    breaker: Arc<Breaker>,
    /// What the route changes about the delivery's limits.
    pub(super) options: RouteOptions,
}

impl RouteGate {
    /// Records an attempt's outcome in the route's breaker.
    pub(super) fn record(&self, pipeline: &Pipeline, plugin: &Plugin, failed: bool) {
        if self.breaker.record(failed) {
            tracing::warn!(route = %self.route, cooldown = ?self.breaker.cooldown(),
                "most recent attempts of this route failed: its circuit breaker is open");
            let labels = RouteLabels {
                route: self.route.clone(),
                plugin: plugin.name.to_string(),
            };
            pipeline
                .metrics
                .route_breaker_trips
                .get_or_create(&labels)
                .inc();
        }
    }
}

/// Lets `leased` run if its route's breaker allows, returning it with the
/// gate to record its outcome in; defers it and returns `None` otherwise.
pub(super) fn pass_route_breaker(
    pipeline: &Pipeline,
    routes: &RouteTable,
    plugin: &Plugin,
    leased: Leased,
    event: &Event,
) -> Result<Option<(Leased, Option<RouteGate>)>, QueueError> {
    let Some((route, options)) = routes.route_to(event, &plugin.name) else {
        return Ok(Some((leased, None)));
    };
    let breaker = plugin.route_breakers.of(route);
    let wait = match breaker.permission() {
        Permission::Run => {
            let gate = RouteGate {
                route: route.to_owned(),
                breaker,
                options: options.clone(),
            };
            return Ok(Some((leased, Some(gate))));
        }
        Permission::WaitUntil(until) => until.saturating_duration_since(Instant::now()),
        Permission::WaitForProbes => PROBE_WAIT,
    };
    let due_ms = now_ms() + wait.as_millis() as u64;
    let mut staging = pipeline.queue.stage();
    if staging.defer(&leased, due_ms)? {
        pipeline.commit(staging)?;
        tracing::info!(%route, due_ms, "route's circuit breaker is open: delivery deferred");
    }
    Ok(None)
}
