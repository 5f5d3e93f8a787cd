//! The example pipeline weir runs when no one configured it, so that `weir
//! serve` on a fresh machine has something to show: the routes, and the names
//! of the example plugins they need (the binary carries the components).

use crate::config::{Config, RoutesSource};
use crate::route::{MatchSpec, RouteSpec, RouteTable};

/// The example plugins' names.
pub const NAMES: [&str; 2] = ["booking-normalizer", "price-calculator"];

/// The routes of the example pipeline: channel webhooks are normalized, and
/// normalized bookings (or explicit requests) recalculate a listing's price.
pub fn default_routes() -> Vec<RouteSpec> {
    let route = |name: &str, kind: &str, plugin: &str| RouteSpec {
        name: name.to_owned(),
        conditions: MatchSpec {
            kind: Some(kind.to_owned()),
            ..MatchSpec::default()
        },
        plugins: vec![plugin.to_owned()],
        stop: false,
        options: Default::default(),
    };
    vec![
        route(
            "normalize-bookings",
            "booking.webhook",
            "booking-normalizer",
        ),
        route("price-on-booking", "booking.normalized", "price-calculator"),
        route(
            "price-on-request",
            "pricing.recalculate",
            "price-calculator",
        ),
    ]
}

/// Drops the example pipeline of a `config` whose files name no route unless
/// every plugin it routes to is `installed`: a plugin directory of the
/// operator's own plugins then starts with no routes rather than failing on
/// the examples' missing plugins.
pub fn keep_routes_if_installed(config: &mut Config, installed: impl Fn(&str) -> bool) {
    if config.routes_source == RoutesSource::Examples
        && config.routes.first_missing(installed).is_some()
    {
        config.routes = RouteTable::default();
        config.routes_source = RoutesSource::Nowhere;
        let source = config.routes_source.to_string();
        config.routes.set_origin(source, Default::default());
    }
}
