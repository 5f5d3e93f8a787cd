//! Holding the deliveries of a paused tenant: they leave the ready index for
//! `held` when the dispatcher meets them, without counting an attempt, and
//! come back when the tenant is resumed (`api::tenants`).

use crate::event::Event;
use crate::pipeline::Pipeline;
use crate::queue::{Leased, QueueError};

/// Parks `leased` if its event's tenant is paused and returns `None`; gives
/// the delivery back to run otherwise.
pub(super) fn hold_if_paused(
    pipeline: &Pipeline,
    leased: Leased,
    event: &Event,
) -> Result<Option<Leased>, QueueError> {
    if !pipeline.tenant_pauses.is_paused(&event.tenant) {
        return Ok(Some(leased));
    }
    let mut staging = pipeline.queue.stage();
    // Asked again under the write lock: a resume clears the flag before it
    // releases the held range under the same lock, so nothing is parked after
    // the resume has looked.
    if !pipeline.tenant_pauses.is_paused(&event.tenant) {
        return Ok(Some(leased));
    }
    if staging.hold(&leased, &event.tenant)? {
        pipeline.commit(staging)?;
        tracing::info!(tenant = %event.tenant, "tenant paused: delivery held");
    }
    Ok(None)
}
