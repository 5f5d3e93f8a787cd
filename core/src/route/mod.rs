//! The routing table: which plugins an event goes to.
//!
//! Routes are tried in order; every route whose conditions all hold adds its
//! plugins (fan-out), and a matching route with `stop = true` ends the search.
//! `condition.rs` is one condition of a route, `attributes.rs` the attribute
//! predicates, `explain.rs` the account of one event's routing, `type_index.rs` the one-pass type match,
//! `current.rs` the table in force, which a reload swaps.

mod attributes;
mod condition;
mod current;
mod explain;
mod options;
mod type_index;

pub use current::Routes;
pub use explain::{ConditionVerdict, Expected, Explanation, RouteVerdict};
pub use options::{Ordering, RouteOptions};

use std::collections::{BTreeMap, HashSet};

use globset::Glob;
use serde::{Deserialize, Serialize};

use crate::event::{Event, Priority};
use crate::store::Target;
use attributes::Predicate;
use condition::{Condition, Test};

/// One `[[route]]` as written in `weir.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// What it changes about its deliveries over the plugin's limits.
    #[serde(default)]
    pub options: RouteOptions,
}

/// The conditions of a route, as written.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
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
    /// Conditions on other attributes, by attribute name: each a string
    /// (equals), `{ exists = true|false }` or `{ one_of = ["..."] }`.
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, serde_json::Value>)]
    pub attributes: BTreeMap<String, toml::Value>,
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
    /// The route as written, for `GET /v1/routes`.
    written: RouteSpec,
    name: String,
    /// All must hold.
    conditions: Vec<Condition>,
    plugins: Vec<String>,
    stop: bool,
    options: RouteOptions,
}

/// The compiled routing table.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Rules out, in one pass, the routes whose `type` an event does not match.
    types: type_index::TypeIndex,
    /// Per plugin, the longest deadline a route to it sets.
    longest_deadlines: std::collections::HashMap<String, std::time::Duration>,
    /// Where the table was written and when it was loaded.
    origin: Origin,
}

/// Where a routing table was written, and when it began to serve.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The file, or what stands in for one (the example pipeline).
    pub source: String,
    /// Each route's line in `source`, by route name.
    pub lines: BTreeMap<String, usize>,
    /// When the table was compiled (ms since the epoch).
    pub loaded_at_ms: u64,
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
            spec.options.check().map_err(error)?;
            let route = Route {
                written: spec.clone(),
                conditions: conditions(&spec.conditions).map_err(error)?,
                plugins: spec.plugins.clone(),
                stop: spec.stop,
                options: spec.options.clone(),
                name: spec.name,
            };
            if let Some(earlier) = routes
                .iter()
                .find(|earlier: &&Route| earlier.stop && earlier.covers(&route))
            {
                return Err(RouteError {
                    route: route.name,
                    message: format!(
                        "never reached: every event it matches also matches the earlier route {:?}, which has stop = true",
                        earlier.name
                    ),
                });
            }
            routes.push(route);
        }
        let types = type_index::TypeIndex::new(&routes).map_err(|e| RouteError {
            route: "(all)".into(),
            message: format!("cannot index the type globs: {e}"),
        })?;
        let mut longest_deadlines = std::collections::HashMap::new();
        for route in &routes {
            if let Some(deadline) = route.options.deadline() {
                for plugin in &route.plugins {
                    let longest = longest_deadlines.entry(plugin.clone()).or_insert(deadline);
                    *longest = (*longest).max(deadline);
                }
            }
        }
        Ok(RouteTable {
            routes,
            types,
            longest_deadlines,
            origin: Origin {
                loaded_at_ms: crate::event::now_ms(),
                ..Origin::default()
            },
        })
    }

    /// The plugins `event` goes to, each once, in route order.
    pub fn plugins_for(&self, event: &Event) -> Vec<String> {
        let targets = self.targets_for(event);
        targets.into_iter().map(|target| target.plugin).collect()
    }

    /// The deliveries `event` makes, one per plugin in route order, each as
    /// the first route naming its plugin sets it.
    pub fn targets_for(&self, event: &Event) -> Vec<Target> {
        let mut targets: Vec<Target> = Vec::new();
        for route in self.matching(event) {
            for plugin in &route.plugins {
                if !targets.iter().any(|target| target.plugin == *plugin) {
                    targets.push(Target {
                        plugin: plugin.clone(),
                        ordered: route.options.ordering == Ordering::Partitionkey,
                    });
                }
            }
        }
        targets
    }

    /// The first route that sends `event` to `plugin`, and its options: the
    /// route its delivery is attributed to (for the route's circuit breaker
    /// and limits).
    pub fn route_to(&self, event: &Event, plugin: &str) -> Option<(&str, &RouteOptions)> {
        self.matching(event)
            .find(|route| route.plugins.iter().any(|p| p == plugin))
            .map(|route| (route.name.as_str(), &route.options))
    }

    /// The longest deadline a route sets for deliveries to `plugin`, if any
    /// does: a lease must last at least that long.
    pub fn longest_deadline(&self, plugin: &str) -> Option<std::time::Duration> {
        self.longest_deadlines.get(plugin).copied()
    }

    /// The first (plugin, route) whose plugin `has` does not have.
    pub fn first_missing(&self, has: impl Fn(&str) -> bool) -> Option<(&str, &str)> {
        self.named_plugins().find(|(plugin, _)| !has(plugin))
    }

    /// The routes `event` matches, in order, up to the first with `stop`.
    fn matching<'a>(&'a self, event: &Event) -> impl Iterator<Item = &'a Route> {
        let passing = self.types.passing(&event.kind);
        let mut stopped = false;
        self.routes
            .iter()
            .zip(passing)
            .filter(move |(route, passing)| *passing && route.matches(event))
            .map(|(route, _)| route)
            .take_while(move |route| !std::mem::replace(&mut stopped, route.stop))
    }

    /// Every plugin some route names, with the first route naming it.
    pub fn named_plugins(&self) -> impl Iterator<Item = (&str, &str)> {
        self.routes
            .iter()
            .flat_map(|r| r.plugins.iter().map(move |p| (p.as_str(), r.name.as_str())))
    }

    /// Notes where the table was written; it was loaded now.
    pub fn set_origin(&mut self, source: String, lines: BTreeMap<String, usize>) {
        self.origin = Origin {
            source,
            lines,
            loaded_at_ms: crate::event::now_ms(),
        };
    }

    /// Where the table was written and when it was loaded.
    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Every route as written, in table order.
    pub fn written(&self) -> impl Iterator<Item = &RouteSpec> {
        self.routes.iter().map(|route| &route.written)
    }

    /// The routes' names, in table order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|route| route.name.as_str())
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
        self.conditions
            .iter()
            .all(|condition| condition.holds(event))
    }

    /// Whether the route is for another tenant than `event`'s: it has a
    /// `tenant` condition that `event` does not meet.
    fn for_another_tenant(&self, event: &Event) -> bool {
        self.conditions
            .iter()
            .any(|condition| condition.field == "tenant" && !condition.holds(event))
    }

    /// Whether this route surely matches every event `later` matches: each of
    /// its conditions is one `later` has too, or lets everything through. It
    /// errs toward "no", so a reachable route is never refused.
    fn covers(&self, later: &Route) -> bool {
        self.conditions
            .iter()
            .all(|condition| later.conditions.iter().any(|other| condition.covers(other)))
    }
}

/// The conditions `spec` states, checked; the error names the bad one.
fn conditions(spec: &MatchSpec) -> Result<Vec<Condition>, String> {
    let mut conditions = Vec::new();
    for (field, pattern) in [("type", &spec.kind), ("source", &spec.source)] {
        if let Some(pattern) = pattern {
            let glob = Glob::new(pattern)
                .map_err(|e| format!("bad glob in match.{field}: {e}"))?
                .compile_matcher();
            conditions.push(Condition {
                field: field.to_owned(),
                test: Test::Glob(glob),
            });
        }
    }
    if let Some(priority) = spec.priority.as_deref() {
        let priority = Priority::parse(priority).ok_or_else(|| {
            format!(
                "match.priority is {priority:?}; expected {}",
                Priority::EXPECTED
            )
        })?;
        conditions.push(Condition {
            field: "priority".to_owned(),
            test: Test::Predicate(Predicate::Equals(priority.as_str().to_owned())),
        });
    }
    for (field, value) in [("tenant", &spec.tenant), ("stage", &spec.stage)] {
        if let Some(value) = value {
            conditions.push(Condition {
                field: field.to_owned(),
                test: Test::Predicate(Predicate::Equals(value.clone())),
            });
        }
    }
    for (name, written) in &spec.attributes {
        conditions.push(Condition {
            field: name.clone(),
            test: Test::Predicate(Predicate::parse(name, written)?),
        });
    }
    Ok(conditions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ExtensionValue;

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
            table.route_to(&acme, "b").map(|(name, _)| name),
            Some("all bookings"),
            "the first route"
        );
        assert_eq!(
            table.route_to(&acme, "c").map(|(name, _)| name),
            Some("acme")
        );
        assert!(table.route_to(&acme, "d").is_none(), "not past a stop");
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

    #[test]
    fn attribute_predicates_all_hold() {
        let table = table(
            r#"
            [[route]]
            name = "vip in europe"
            match = { type = "booking.*", attributes = { region = { one_of = ["eu", "uk"] }, vip = { exists = true }, plan = "pro" } }
            plugins = ["vip"]
            [[route]]
            name = "no region"
            match = { attributes = { region = { exists = false } } }
            plugins = ["unplaced"]
            "#,
        )
        .expect("valid table");
        let mut vip = event("booking.created", "acme");
        vip.extensions = [("region", "uk"), ("vip", "yes"), ("plan", "pro")]
            .map(|(k, v)| (k.to_owned(), v.into()))
            .into();
        assert_eq!(table.plugins_for(&vip), ["vip"]);
        vip.extensions.insert("plan".into(), "free".into());
        assert!(
            table.plugins_for(&vip).is_empty(),
            "every condition must hold"
        );
        assert_eq!(
            table.plugins_for(&event("booking.created", "acme")),
            ["unplaced"]
        );
    }

    #[test]
    fn a_typed_extension_is_matched_by_its_text() {
        let table = table(
            r#"
            [[route]]
            name = "big vip"
            match = { attributes = { vip = "true", seats = { one_of = ["40", "41"] } } }
            plugins = ["vip"]
            "#,
        )
        .expect("valid table");
        let mut event = event("booking.created", "acme");
        event.extensions = [
            ("vip".to_owned(), ExtensionValue::Boolean(true)),
            ("seats".to_owned(), ExtensionValue::Integer(41)),
        ]
        .into();
        assert_eq!(table.plugins_for(&event), ["vip"]);
        event
            .extensions
            .insert("seats".into(), ExtensionValue::Integer(4));
        assert!(table.plugins_for(&event).is_empty());
    }

    #[test]
    fn a_route_behind_a_stop_that_covers_it_is_refused() {
        let shadowed = table(
            r#"
            [[route]]
            name = "all bookings, and nothing else"
            match = { type = "booking.*" }
            plugins = ["a"]
            stop = true
            [[route]]
            name = "acme bookings"
            match = { type = "booking.*", tenant = "acme" }
            plugins = ["b"]
            "#,
        )
        .expect_err("shadowed");
        let message = shadowed.to_string();
        assert!(
            message.contains("acme bookings") && message.contains("all bookings, and nothing else"),
            "{message}"
        );
        table(
            r#"
            [[route]]
            name = "acme only"
            match = { type = "booking.*", tenant = "acme" }
            plugins = ["a"]
            stop = true
            [[route]]
            name = "all bookings"
            match = { type = "booking.*" }
            plugins = ["b"]
            "#,
        )
        .expect("a narrower stop leaves later routes reachable");
    }
}
