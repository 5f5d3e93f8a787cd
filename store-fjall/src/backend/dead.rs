//! Dead letters on the embedded store: which event a request names, and
//! reviving or discarding its dead deliveries in one batch.

use crate::pipeline::Pipeline;
use crate::queue::{DeadFilter, Queue, Seq, StoreError, StoredId};

use weir_core::store::{EventLetters, Revived};

/// Most events one id lookup reads before it calls the id ambiguous.
const MAX_MATCHES: usize = 100;

/// The sequence number of the one event with `id` (and `tenant` and
/// `source`, where given).
pub fn resolve_id(
    queue: &Queue,
    id: &str,
    tenant: Option<&str>,
    source: Option<&str>,
) -> Result<Seq, StoreError> {
    let matches: Vec<StoredId> = queue
        .events_with_id(id, MAX_MATCHES)?
        .into_iter()
        .filter(|found| tenant.is_none_or(|tenant| found.tenant == tenant))
        .filter(|found| source.is_none_or(|source| found.source == source))
        .collect();
    match matches.as_slice() {
        [] => Err(StoreError::NotFound(format!("no event with id {id:?}"))),
        [only] => Ok(only.seq),
        several => {
            let named: Vec<String> = several
                .iter()
                .map(|found| format!("tenant {:?} source {:?}", found.tenant, found.source))
                .collect();
            Err(StoreError::Ambiguous(format!(
                "{} events have id {id:?} ({}); name one with ?tenant= and ?source=",
                several.len(),
                named.join(", ")
            )))
        }
    }
}

/// The dead deliveries of the event `letters` names, as (sequence, plugin).
fn dead_of_event(queue: &Queue, letters: &EventLetters) -> Result<Vec<(Seq, String)>, StoreError> {
    let (tenant, source) = (letters.tenant.as_deref(), letters.source.as_deref());
    let seq = resolve_id(queue, &letters.id, tenant, source)?;
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
fn revive(pipeline: &Pipeline, targets: &[(Seq, String)]) -> Result<Vec<String>, StoreError> {
    let mut staging = pipeline.queue.stage();
    let mut revived = Vec::new();
    for (seq, plugin) in targets {
        if staging.revive(*seq, plugin)? {
            revived.push(plugin.clone());
        }
    }
    pipeline.commit(staging)?;
    Ok(revived)
}

/// Revives the dead deliveries of the event `letters` names.
pub(super) fn revive_event(
    pipeline: &Pipeline,
    letters: &EventLetters,
) -> Result<Vec<String>, StoreError> {
    revive(pipeline, &dead_of_event(&pipeline.queue, letters)?)
}

/// Discards the dead deliveries of the event `letters` names.
pub(super) fn discard_event(
    pipeline: &Pipeline,
    letters: &EventLetters,
) -> Result<Vec<String>, StoreError> {
    let targets = dead_of_event(&pipeline.queue, letters)?;
    let mut staging = pipeline.queue.stage();
    let mut discarded = Vec::new();
    for (seq, plugin) in targets {
        if staging.discard(seq, &plugin)? {
            discarded.push(plugin);
        }
    }
    pipeline.commit(staging)?;
    Ok(discarded)
}

/// Revives up to `limit` dead deliveries that match `filter`, oldest first.
pub(super) fn revive_matching(
    pipeline: &Pipeline,
    filter: &DeadFilter,
    limit: usize,
) -> Result<Revived, StoreError> {
    let page = pipeline.queue.dead_letters(filter, None, limit)?;
    let targets: Vec<(Seq, String)> = page
        .letters
        .into_iter()
        .map(|letter| (letter.seq, letter.record.plugin))
        .collect();
    Ok(Revived {
        plugins: revive(pipeline, &targets)?,
        more: page.next.is_some(),
    })
}
