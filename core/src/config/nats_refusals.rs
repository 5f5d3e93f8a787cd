//! The settings the NATS store cannot honour yet, refused at start-up with
//! the key named rather than ignored while weir runs.

use std::collections::BTreeMap;

use super::{ConfigError, IngestLimits, RawTenantLimits, TenantLimits};

/// The error for `key`, which NATS does not honour because `why`.
fn refuse(key: String, why: &str) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid(format!(
        "{key} is not available with [storage] backend = \"nats\": {why}; remove it, or use \
         the embedded backend"
    )))
}

/// Refuses the admission marks the NATS backend cannot honour: it measures
/// the cluster's backlog per plugin from the deliveries stream, which knows
/// neither an event's tenant nor how long a delivery has waited.
pub(super) fn refuse_what_nats_cannot_measure(
    ingest: &IngestLimits,
    tenant_defaults: &TenantLimits,
    tenants: &BTreeMap<String, TenantLimits>,
) -> Result<(), ConfigError> {
    let unmeasured = |key: String, knows: &str| {
        refuse(
            key,
            &format!("the cluster's deliveries stream knows {knows}"),
        )
    };
    if ingest.oldest_ready_ms.is_some() {
        return unmeasured(
            "[ingest] oldest_ready_high_water_ms".into(),
            "how many deliveries wait, not how long",
        );
    }
    let tenant_with_quota = (tenant_defaults.backlog.is_some())
        .then(|| "[tenant_defaults]".to_owned())
        .or_else(|| {
            (tenants.iter())
                .find(|(_, limits)| limits.backlog.is_some())
                .map(|(name, _)| format!("[tenants.{name}]"))
        });
    if let Some(section) = tenant_with_quota {
        return unmeasured(
            format!("{section} backlog_high_water"),
            "each plugin's backlog, not each tenant's",
        );
    }
    Ok(())
}

/// Refuses the tenant scheduling settings the NATS backend does not apply:
/// each priority's deliveries are pulled in the order they were stored,
/// whatever their tenant, so a tenant's turns would apply only to the few a
/// node has pulled. (`[dispatch] lane_weights` applies: each priority has a
/// feed of its own.)
pub(super) fn refuse_what_nats_cannot_schedule(
    (tenant_defaults, tenants): (&RawTenantLimits, &BTreeMap<String, RawTenantLimits>),
) -> Result<(), ConfigError> {
    let tenants = std::iter::once(("[tenant_defaults]".to_owned(), tenant_defaults))
        .chain((tenants.iter()).map(|(name, limits)| (format!("[tenants.{name}]"), limits)));
    for (section, limits) in tenants {
        let key = match (limits.weight, limits.max_in_flight) {
            (Some(_), _) => "weight",
            (None, Some(_)) => "max_in_flight",
            (None, None) => continue,
        };
        return refuse(
            format!("{section} {key}"),
            "its deliveries are pulled per plugin and priority, not per tenant, so tenant fairness does not apply",
        );
    }
    Ok(())
}
