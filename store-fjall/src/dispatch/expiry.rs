//! Lease expiry: a delivery whose worker is gone (a panicked task, a commit that
//! never returned) is not stuck until the next restart. Past its lease deadline
//! the attempt counts as failed and the delivery retries or is dead-lettered
//! like any other failure; should the old worker come back, its commit finds the
//! lease gone and writes nothing.

use weir_core::deliver::{Failed, Finished, retry_or_dead};

use super::FjallLeased;
use crate::commit;
use crate::embedded::Embedded;
use crate::queue::{Attempt, DeliveryState, Lane, Leased, QueueError};

/// Expires every lease whose deadline passed before `now_ms`.
pub fn expire_leases(embedded: &Embedded, now_ms: u64) -> Result<usize, QueueError> {
    let queue = &embedded.queue;
    let mut endings = Vec::new();
    let mut tallies = Vec::new();
    for (plugin, seq, hold) in queue.expired_leases(now_ms) {
        let (Some(event), Some(mut record)) = (queue.event(seq)?, queue.delivery(seq, &plugin)?)
        else {
            continue;
        };
        // As the lease counted it; should the lease have ended or been taken
        // again since the listing, its token no longer holds and the ending
        // below writes nothing.
        record.attempts = hold.attempt;
        record.state = DeliveryState::Leased;
        let attempt = hold.attempt;
        // The current version's limits (those of the version that ran are gone
        // with its worker); the lease was sized from them.
        let limits = embedded.shared.plugins.get(&plugin).map_or_else(
            || embedded.shared.config.limits_for(&plugin).clone(),
            |p| p.current().limits.clone(),
        );
        let routes = embedded.routes();
        let lease_ms =
            crate::schedule::lease_ms(&embedded.shared.config, &routes, &plugin, &limits);
        // Attempts and backoff as the delivery's route sets them.
        let limits = match routes.route_to(&event, &plugin) {
            Some((_, options)) => options.apply(&limits),
            None => limits,
        };
        let message = "no result before the lease expired; the worker is presumed lost".to_owned();
        let expired_attempt = Attempt {
            started_at_ms: hold.until_ms.saturating_sub(lease_ms),
            duration_ms: lease_ms,
            outcome: "lease_expired".into(),
            error: Some(message.clone()),
            fuel_consumed: 0,
            version: None,
        };
        let span = tracing::warn_span!("lease_expiry", %plugin, seq, event_id = %event.id);
        let _entered = span.enter();
        tracing::warn!(attempt, "lease expired");
        let failed = Failed {
            reason: "lease_expired",
            message,
            hint_ms: None,
            attempt: Some(expired_attempt),
        };
        let ending = retry_or_dead(&limits, record.attempts, failed);
        tallies.push((ending.tally(), plugin.clone(), event.ingested_at_ms));
        let leased = FjallLeased {
            leased: Leased {
                seq,
                plugin: plugin.clone(),
                lane: Lane::of(&event),
                record,
                lease_ms,
                token: hold.token,
            },
            event,
        };
        endings.push((leased, ending));
    }
    // One round for every expired lease.
    let finished = commit::store_round(embedded, endings)?;
    let mut expired = 0;
    for (finished, (tally, plugin, ingested_at_ms)) in finished.into_iter().zip(tallies) {
        if let Finished::Stored = finished {
            tally.count(&embedded.shared.metrics, &plugin, ingested_at_ms);
            expired += 1;
        }
    }
    Ok(expired)
}
