//! How long a lease holds before the delivery is handed out again.

use std::time::Duration;

use crate::config::{Config, PluginLimits};
use crate::route::RouteTable;

/// How long a delivery leased ahead of a free instance slot waits for one
/// before it goes back to the store (`deliver::serve_plugin`).
pub const AHEAD_WAIT: Duration = Duration::from_secs(1);

/// The lease of a delivery to `plugin` (under `limits`) in ms: the handler's
/// deadline (the longest any route to it sets, since the route is known only
/// once the delivery is leased), the slack of the timeout around it, the
/// wait of a delivery leased ahead for a slot, and the configured grace for
/// committing. Past that its worker is presumed gone.
pub fn lease_ms(config: &Config, routes: &RouteTable, plugin: &str, limits: &PluginLimits) -> u64 {
    let deadline = match routes.longest_deadline(plugin) {
        Some(longest) => limits.deadline.max(longest),
        None => limits.deadline,
    };
    let lease: Duration =
        deadline + crate::runtime::DEADLINE_SLACK + AHEAD_WAIT + config.dispatch.lease_grace;
    lease.as_millis() as u64
}
