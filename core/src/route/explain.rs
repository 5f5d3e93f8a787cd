//! Why an event reaches the plugins it does: `POST /v1/routes/explain`.

use serde::Serialize;
use utoipa::ToSchema;

use super::RouteTable;
use crate::event::Event;

/// Where an event goes, and every route's verdict on it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Explanation {
    /// The plugins it reaches, in order.
    pub plugins: Vec<String>,
    /// Every route's verdict, in table order.
    pub routes: Vec<RouteVerdict>,
}

/// One route's verdict on an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteVerdict {
    /// The route's name.
    pub route: String,
    /// Whether all its conditions hold.
    pub matched: bool,
    /// Whether it ends the walk when it matches.
    pub stop: bool,
    /// The plugins it sends to.
    pub plugins: Vec<String>,
    /// The earlier route with `stop` that matched and so kept this one
    /// from being tried, if any.
    pub stopped_by: Option<String>,
    /// Each of its conditions, checked.
    pub conditions: Vec<ConditionVerdict>,
}

/// One condition of a route, checked against an event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConditionVerdict {
    /// The attribute it tests: `type`, `tenant`, `region`, ...
    pub attribute: String,
    /// The test, as written.
    pub expected: Expected,
    /// The event's value of the attribute, if it has one.
    pub actual: Option<String>,
    /// Whether the value passes.
    pub holds: bool,
}

/// A condition's test, as written.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    /// The value matches this glob.
    Glob(String),
    /// The value is exactly this.
    Equals(String),
    /// The attribute is present (`true`) or absent (`false`).
    Exists(bool),
    /// The value is one of these.
    OneOf(Vec<String>),
}

impl RouteTable {
    /// Every route in order with each of its conditions checked against
    /// `event`, whether it matched, and whether an earlier matching route with
    /// `stop = true` kept it from being tried; then the plugins `event` goes to.
    /// With `own_routes_only` (a tenant asking) the routes written for other
    /// tenants are left out: they never take its events, and they are not
    /// its business.
    pub fn explain(&self, event: &Event, own_routes_only: bool) -> Explanation {
        let mut stopped_by: Option<&str> = None;
        let mut routes = Vec::with_capacity(self.routes.len());
        let shown = self
            .routes
            .iter()
            .filter(|route| !(own_routes_only && route.for_another_tenant(event)));
        for route in shown {
            let matched = route.matches(event);
            routes.push(RouteVerdict {
                route: route.name.clone(),
                matched,
                stop: route.stop,
                plugins: route.plugins.clone(),
                stopped_by: stopped_by.map(str::to_owned),
                conditions: (route.conditions.iter())
                    .map(|condition| condition.explain(event))
                    .collect(),
            });
            if stopped_by.is_none() && matched && route.stop {
                stopped_by = Some(&route.name);
            }
        }
        Explanation {
            plugins: self.plugins_for(event),
            routes,
        }
    }
}
