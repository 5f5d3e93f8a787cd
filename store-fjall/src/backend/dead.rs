//! Dead letters on the embedded store: which event a request names, and
//! reviving or discarding its dead deliveries in one batch.

use crate::embedded::Embedded;
use crate::queue::{DeadFilter, Queue, Seq, StoreError, StoredId};

use weir_core::store::{EventLetters, EventRef, Revived};

/// Most events one id lookup reads before it calls the id ambiguous.
const MAX_MATCHES: usize = 100;

/// The sequence number of the one event `event` names.
pub(super) fn resolve_id(queue: &Queue, event: &EventRef) -> Result<Seq, StoreError> {
    let (tenant, source) = (event.tenant.as_deref(), event.source.as_deref());
    let matches: Vec<StoredId> = queue
        .events_with_id(&event.id, MAX_MATCHES)?
        .into_iter()
        .filter(|found| tenant.is_none_or(|tenant| found.tenant == tenant))
        .filter(|found| source.is_none_or(|source| found.source == source))
        .collect();
    let found = event.one_of(matches, |found| {
        (found.tenant.as_str(), found.source.as_str())
    })?;
    Ok(found.seq)
}

/// The dead deliveries of the event `letters` names, as (sequence, plugin).
fn dead_of_event(queue: &Queue, letters: &EventLetters) -> Result<Vec<(Seq, String)>, StoreError> {
    let seq = resolve_id(queue, &letters.event)?;
    let dead: Vec<(Seq, String)> = queue
        .dead_of(seq, letters.plugin.as_deref())?
        .into_iter()
        .map(|record| (seq, record.plugin))
        .collect();
    if dead.is_empty() {
        return Err(letters.none_found());
    }
    Ok(dead)
}

/// Revives `targets` in one batch; the plugins of those that were dead.
fn revive(embedded: &Embedded, targets: &[(Seq, String)]) -> Result<Vec<String>, StoreError> {
    let mut staging = embedded.queue.stage();
    let mut revived = Vec::new();
    for (seq, plugin) in targets {
        if staging.revive(*seq, plugin)? {
            revived.push(plugin.clone());
        }
    }
    embedded.commit(staging)?;
    Ok(revived)
}

/// Revives the dead deliveries of the event `letters` names.
pub(super) fn revive_event(
    embedded: &Embedded,
    letters: &EventLetters,
) -> Result<Vec<String>, StoreError> {
    revive(embedded, &dead_of_event(&embedded.queue, letters)?)
}

/// Discards the dead deliveries of the event `letters` names.
pub(super) fn discard_event(
    embedded: &Embedded,
    letters: &EventLetters,
) -> Result<Vec<String>, StoreError> {
    let targets = dead_of_event(&embedded.queue, letters)?;
    let mut staging = embedded.queue.stage();
    let mut discarded = Vec::new();
    for (seq, plugin) in targets {
        if staging.discard(seq, &plugin)? {
            discarded.push(plugin);
        }
    }
    embedded.commit(staging)?;
    Ok(discarded)
}

/// Revives up to `limit` dead deliveries that match `filter`, oldest first.
pub(super) fn revive_matching(
    embedded: &Embedded,
    filter: &DeadFilter,
    limit: usize,
) -> Result<Revived, StoreError> {
    let page = embedded.queue.dead_letters(filter, None, limit)?;
    let targets: Vec<(Seq, String)> = page
        .letters
        .into_iter()
        .map(|letter| (letter.seq, letter.record.plugin))
        .collect();
    Ok(Revived {
        plugins: revive(embedded, &targets)?,
        more: page.next.is_some(),
    })
}
