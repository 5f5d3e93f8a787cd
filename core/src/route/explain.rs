//! Why an event reaches the plugins it does: `POST /v1/routes/explain`.

use serde_json::{Value, json};

use super::RouteTable;
use crate::event::Event;

impl RouteTable {
    /// Every route in order with each of its conditions checked against
    /// `event`, whether it matched, and whether an earlier matching route with
    /// `stop = true` kept it from being tried; then the plugins `event` goes to.
    /// With `own_routes_only` (a tenant asking) the routes written for other
    /// tenants are left out: they never take its events, and they are not
    /// its business.
    pub fn explain(&self, event: &Event, own_routes_only: bool) -> Value {
        let mut stopped_by: Option<&str> = None;
        let mut routes = Vec::with_capacity(self.routes.len());
        let shown = self
            .routes
            .iter()
            .filter(|route| !(own_routes_only && route.for_another_tenant(event)));
        for route in shown {
            let matched = route.matches(event);
            routes.push(json!({
                "route": route.name,
                "matched": matched,
                "stop": route.stop,
                "plugins": route.plugins,
                "stopped_by": stopped_by,
                "conditions": route
                    .conditions
                    .iter()
                    .map(|condition| condition.explain(event))
                    .collect::<Vec<_>>(),
            }));
            if stopped_by.is_none() && matched && route.stop {
                stopped_by = Some(&route.name);
            }
        }
        json!({ "plugins": self.plugins_for(event), "routes": routes })
    }
}
