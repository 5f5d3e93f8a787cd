//! Which stored event a path's `{id}` names. An event is unique by tenant,
//! source and id, so `?tenant=` and `?source=` narrow an id that several
//! events share. A tenant's token sees only its own events: another
//! tenant's event with the same id is, to it, not there.

use super::{ApiError, Caller};
use crate::backend::EventRef;

/// The event with `id` (and `tenant` and `source`, where given) that the
/// caller may see; a tenant's token may name no other tenant.
pub fn named(
    caller: &Caller,
    id: &str,
    tenant: Option<&str>,
    source: Option<&str>,
) -> Result<EventRef, ApiError> {
    if let Some(tenant) = tenant {
        caller.require_tenant(tenant)?;
    }
    Ok(EventRef {
        id: id.to_owned(),
        tenant: tenant.or(caller.own_tenant()).map(str::to_owned),
        source: source.map(str::to_owned),
    })
}
