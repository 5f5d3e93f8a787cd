//! The routing table: which plugins an event goes to.
//!
//! Routes are tried in order; every route whose conditions all hold adds its
//! plugins (fan-out), and a matching route with `stop = true` ends the search.

use std::collections::HashSet;

use globset::{Glob, GlobMatcher};
use serde::Deserialize;

use crate::event::{Event, Priority};

/// One `[[route]]` as written in `weir.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Names the route in errors, logs and metrics.
    pub name: String,
    /// Conditions, all of which must hold; none means every event.
    #[serde(default, rename = "match")]
    pub conditions: MatchSpec,
    /// The plugins that get a delivery of each matching event.
    pub plugins: Vec<String>,
    /// Stop evaluating later routes once this one matches.
    #[serde(default)]
    pub stop: bool,
}

/// The conditions of a route, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// A glob over the event type, e.g. `booking.*`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// A glob over the event source.
    pub source: Option<String>,
    /// An exact tenant.
    pub tenant: Option<String>,
    /// `high`, `normal` or `low`.
    pub priority: Option<String>,
    /// An exact workflow stage.
    pub stage: Option<String>,
}

/// A route that does not make sense; the message names it.
#[derive(Debug, thiserror::Error)]
#[error("route {route:?}: {message}")]
pub struct RouteError {
    /// The route's name.
    pub route: String,
    /// What is wrong with it.
    pub message: String,
}

#[derive(Debug, Clone)]
struct Route {
    name: String,
    kind: Option<GlobMatcher>,
    source: Option<GlobMatcher>,
    tenant: Option<String>,
    priority: Option<Priority>,
    stage: Option<String>,
    plugins: Vec<String>,
    stop: bool,
}

/// The compiled routing table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Compiles and checks `specs`.
    pub fn new(specs: Vec<RouteSpec>) -> Result<RouteTable, RouteError> {
        let mut names = HashSet::new();
        let mut routes = Vec::with_capacity(specs.len());
        for spec in specs {
            let error = |message: String| RouteError {
                route: spec.name.clone(),
                message,
            };
            if !names.insert(spec.name.clone()) {
                return Err(error("a route with this name appears twice".into()));
            }
            if spec.plugins.is_empty() {
                return Err(error("`plugins` is empty: name at least one plugin".into()));
            }
            if let Some(bad) = spec
                .plugins
                .iter()
                .find(|p| !crate::runtime::is_valid_plugin_name(p))
            {
                return Err(error(format!("{bad:?} is not a valid plugin name")));
            }
            let glob = |field: &str,
                        pattern: &Option<String>|
             -> Result<Option<GlobMatcher>, RouteError> {
                pattern
                    .as_deref()
                    .map(|p| Glob::new(p).map(|g| g.compile_matcher()))
                    .transpose()
                    .map_err(|e| error(format!("bad glob in match.{field}: {e}")))
            };
            let priority = match spec.conditions.priority.as_deref() {
                None => None,
                Some(p) => Some(Priority::parse(p).ok_or_else(|| {
                    error(format!(
                        "match.priority is {p:?}; expected high, normal or low"
                    ))
                })?),
            };
            routes.push(Route {
                kind: glob("type", &spec.conditions.kind)?,
                source: glob("source", &spec.conditions.source)?,
                tenant: spec.conditions.tenant.clone(),
                priority,
                stage: spec.conditions.stage.clone(),
                plugins: spec.plugins.clone(),
                stop: spec.stop,
                name: spec.name,
            });
        }
        Ok(RouteTable { routes })
    }

    /// The plugins `event` goes to, each once, in route order.
    pub fn plugins_for(&self, event: &Event) -> Vec<String> {
        let mut plugins: Vec<String> = Vec::new();
        for route in self.matching(event) {
            for plugin in &route.plugins {
                if !plugins.contains(plugin) {
                    plugins.push(plugin.clone());
                }
            }
        }
        plugins
    }

    /// The first route that sends `event` to `plugin`: the route its delivery
    /// is attributed to (for the route's circuit breaker).
    pub fn route_to(&self, event: &Event, plugin: &str) -> Option<&str> {
        self.matching(event)
            .find(|route| route.plugins.iter().any(|p| p == plugin))
            .map(|route| route.name.as_str())
    }

    /// The routes `event` matches, in order, up to the first with `stop`.
    fn matching<'a>(&'a self, event: &Event) -> impl Iterator<Item = &'a Route> {
        let mut stopped = false;
        self.routes
            .iter()
            .filter(move |route| route.matches(event))
            .take_while(move |route| !std::mem::replace(&mut stopped, route.stop))
    }

    /// Every plugin some route names, with the first route naming it.
    pub fn named_plugins(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes
            .iter()
            .flat_map(|r| r.plugins.iter().map(move |p| (p.as_str(), r.name.as_str())))
    }

    /// How many routes there are.
    pub fn len(&self) -> usize {
        self.routes.len()
    }

    /// True when no route is defined: every event is kept unrouted.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

impl Route {
    fn matches(&self, event: &Event) -> bool {
        self.kind.as_ref().is_none_or(|g| g.is_match(&event.kind))
            && self
                .source
                .as_ref()
                .is_none_or(|g| g.is_match(&event.source))
            && self.tenant.as_ref().is_none_or(|t| *t == event.tenant)
            && self.priority.is_none_or(|p| p == event.priority)
            && self
                .stage
                .as_ref()
                .is_none_or(|s| Some(s) == event.stage.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, tenant: &str) -> Event {
        Event::new("1".into(), "test".into(), kind.into(), tenant.into())
    }

    fn table(toml_routes: &str) -> Result<RouteTable, RouteError> {
        #[derive(Deserialize)]
        struct File {
            route: Vec<RouteSpec>,
        }
        let file: File = toml::from_str(toml_routes).expect("test TOML parses");
        RouteTable::new(file.route)
    }

    #[test]
    fn globs_fan_out_and_stop() {
        let table = table(
            r#"
            [[route]]
            name = "all bookings"
            match = { type = "booking.*" }
            plugins = ["a", "b"]
            [[route]]
            name = "acme"
            match = { tenant = "acme" }
            plugins = ["b", "c"]
            stop = true
            [[route]]
            name = "never after stop"
            plugins = ["d"]
            "#,
        )
        .expect("valid table");
        assert_eq!(
            table.plugins_for(&event("booking.created", "acme")),
            ["a", "b", "c"]
        );
        assert_eq!(
            table.plugins_for(&event("booking.created", "other")),
            ["a", "b", "d"]
        );
        assert_eq!(table.plugins_for(&event("price.updated", "other")), ["d"]);

        let acme = event("booking.created", "acme");
        assert_eq!(
            table.route_to(&acme, "b"),
            Some("all bookings"),
            "the first route"
        );
        assert_eq!(table.route_to(&acme, "c"), Some("acme"));
        assert_eq!(table.route_to(&acme, "d"), None, "not past a stop");
    }

    #[test]
    fn bad_routes_are_named() {
        let err = table("[[route]]\nname = \"r1\"\nmatch = { type = \"a[\" }\nplugins = [\"a\"]")
            .expect_err("bad glob");
        assert!(
            err.to_string().contains("r1") && err.to_string().contains("match.type"),
            "{err}"
        );
        let err = table("[[route]]\nname = \"r2\"\nplugins = []").expect_err("no plugins");
        assert!(err.to_string().contains("r2"), "{err}");
        let err =
            table("[[route]]\nname = \"r3\"\nmatch = { priority = \"urgent\" }\nplugins = [\"a\"]")
                .expect_err("bad priority");
        assert!(err.to_string().contains("urgent"), "{err}");
    }
}
