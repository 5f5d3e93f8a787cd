//! The settings the NATS store cannot honour yet, refused at start-up with
//! the key named rather than ignored while weir runs.

use std::collections::BTreeMap;

use super::{ConfigError, RawQueue, RawTenantLimits};

/// The error for `key`, which NATS does not honour because `why`.
fn refuse(key: String, why: &str) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid(format!(
        "{key} is not available with [storage] backend = \"nats\": {why}; remove it, or use \
         the embedded backend"
    )))
}

/// Refuses a tenant's `max_in_flight`, which the NATS backend cannot
/// apply: each node counts only the deliveries it runs, so a cap would
/// hold per node, not for the cluster. (A tenant's `weight` applies: each
/// node's window gives the tenants it has pulled turns by weight.)
pub(super) fn refuse_what_nats_cannot_schedule(
    (tenant_defaults, tenants): (&RawTenantLimits, &BTreeMap<String, RawTenantLimits>),
) -> Result<(), ConfigError> {
    let tenants = std::iter::once(("[tenant_defaults]".to_owned(), tenant_defaults))
        .chain((tenants.iter()).map(|(name, limits)| (format!("[tenants.{name}]"), limits)));
    for (section, limits) in tenants {
        if limits.max_in_flight.is_some() {
            return refuse(
                format!("{section} max_in_flight"),
                "each node counts only the deliveries it runs, so the cap would hold per node, not for the cluster",
            );
        }
    }
    Ok(())
}

/// Refuses `[queue] durability`, which on NATS the servers decide: what a
/// `202` survives is each server's `sync_interval`, not weir's setting.
pub(super) fn refuse_what_nats_servers_decide(queue: &RawQueue) -> Result<(), ConfigError> {
    match queue.durability {
        Some(_) => refuse(
            "[queue] durability".to_owned(),
            "what an acknowledged event survives is the servers' JetStream `sync_interval` \
             (`always` for a power loss)",
        ),
        None => Ok(()),
    }
}
