//! The settings the NATS store cannot honour yet, refused at start-up with
//! the key named rather than ignored (or failing) while weir runs.

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

/// The most events one request may carry on NATS: its new events are
/// stored as one JetStream atomic batch, of at most this many messages
/// (the servers' limit, ADR-50).
const NATS_MAX_EVENTS_PER_REQUEST: usize = 1000;

/// Refuses an `[ingest] max_events_per_request` above what one atomic
/// batch holds: every such request would be refused by the servers.
pub(super) fn refuse_requests_past_one_batch(
    max_events_per_request: Option<usize>,
) -> Result<(), ConfigError> {
    match max_events_per_request {
        Some(max) if max > NATS_MAX_EVENTS_PER_REQUEST => Err(ConfigError::Invalid(format!(
            "[ingest] max_events_per_request = {max} is more than [storage] backend = \"nats\" \
             stores at once: a request's new events are one JetStream atomic batch, of at most \
             {NATS_MAX_EVENTS_PER_REQUEST} messages; set it to {NATS_MAX_EVENTS_PER_REQUEST} or less"
        ))),
        _ => Ok(()),
    }
}
