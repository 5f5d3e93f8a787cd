//! Holding the deliveries of a paused tenant: they leave the ready index for
//! `held` when the dispatcher meets them, without counting an attempt, and
//! come back when the tenant is resumed (`api::tenants`).

use crate::embedded::Embedded;
use crate::event::Event;
use crate::queue::{Leased, QueueError};

/// Parks `leased` if its event's tenant is paused and returns `None`; gives
/// the delivery back to run otherwise.
pub(super) fn hold_if_paused(
    embedded: &Embedded,
    leased: Leased,
    event: &Event,
) -> Result<Option<Leased>, QueueError> {
    if !embedded.shared.tenant_pauses.is_paused(&event.tenant) {
        return Ok(Some(leased));
    }
    let mut staging = embedded.queue.stage();
    // Asked again under the write lock: a resume clears the flag before it
    // releases the held range under the same lock, so nothing is parked after
    // the resume has looked.
    if !embedded.shared.tenant_pauses.is_paused(&event.tenant) {
        return Ok(Some(leased));
    }
    if staging.hold(&leased, &event.tenant) {
        embedded.commit(staging)?;
        tracing::info!(tenant = %event.tenant, "tenant paused: delivery held");
    }
    Ok(None)
}
