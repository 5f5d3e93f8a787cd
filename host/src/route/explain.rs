//! Why an event reaches the plugins it does: `POST /v1/routes/explain`.

use serde_json::{Value, json};

use super::RouteTable;
use crate::event::Event;

impl RouteTable {
    /// Every route in order with each of its conditions checked against
    /// `event`, whether it matched, and whether an earlier matching route with
    /// `stop = true` kept it from being tried; then the plugins `event` goes to.
    pub fn explain(&self, event: &Event) -> Value {
        let mut stopped_by: Option<&str> = None;
        let mut routes = Vec::with_capacity(self.routes.len());
        for route in &self.routes {
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
