//! Which stored event a path's `{id}` names. An event is unique by tenant,
//! source and id, so `?tenant=` and `?source=` narrow an id that several
//! events share. A tenant's token sees only its own events: another
//! tenant's event with the same id is, to it, not there.

use super::{ApiError, AppState, Caller};
use crate::queue::{Seq, StoredId};

/// Most events one id lookup reads before it calls the id ambiguous.
const MAX_MATCHES: usize = 100;

/// The sequence number of the one event with `id` (and `tenant` and `source`,
/// where given) that the caller may see: 404 if there is none, 409 if several
/// match.
pub fn resolve(
    app: &AppState,
    caller: &Caller,
    id: &str,
    tenant: Option<&str>,
    source: Option<&str>,
) -> Result<Seq, ApiError> {
    if let Some(tenant) = tenant {
        caller.require_tenant(tenant)?;
    }
    let tenant = tenant.or(caller.own_tenant());
    let matches: Vec<StoredId> = app
        .pipeline
        .queue
        .events_with_id(id, MAX_MATCHES)?
        .into_iter()
        .filter(|found| tenant.is_none_or(|tenant| found.tenant == tenant))
        .filter(|found| source.is_none_or(|source| found.source == source))
        .collect();
    match matches.as_slice() {
        [] => Err(ApiError::NotFound(format!("no event with id {id:?}"))),
        [only] => Ok(only.seq),
        several => {
            let named: Vec<String> = several
                .iter()
                .map(|found| format!("tenant {:?} source {:?}", found.tenant, found.source))
                .collect();
            Err(ApiError::AmbiguousId(format!(
                "{} events have id {id:?} ({}); name one with ?tenant= and ?source=",
                several.len(),
                named.join(", ")
            )))
        }
    }
}
