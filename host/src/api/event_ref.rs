//! Which stored event a path's `{id}` names. An event is unique by tenant,
//! source and id, so `?tenant=` and `?source=` narrow an id that several
//! events share. A tenant's token sees only its own events: another
//! tenant's event with the same id is, to it, not there.

use super::{ApiError, AppState, Caller};
use crate::backend::resolve_id;
use crate::queue::Seq;

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
    Ok(resolve_id(&app.pipeline.queue, id, tenant, source)?)
}
