//! Finding stored events by identity. CloudEvents makes `source` + `id` unique
//! per producer; weir scopes that by tenant, so two tenants (or two sources)
//! may use the same id without one hiding the other.

use super::{Queue, QueueError, Seq, keys};

/// One stored event that has a given id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredId {
    /// Whose event it is.
    pub tenant: String,
    /// Who produced it.
    pub source: String,
    /// Where it is in the log.
    pub seq: Seq,
}

impl Queue {
    /// The sequence number of the event known by (`tenant`, `source`, `id`).
    pub fn seq_of(&self, id: &str, tenant: &str, source: &str) -> Result<Option<Seq>, QueueError> {
        let key = keys::event_key(id, tenant, source);
        Ok(self
            .event_keys
            .get(key)?
            .as_deref()
            .and_then(keys::read_seq))
    }

    /// The stored events with this id, over every tenant and source; at most
    /// `limit` of them.
    pub fn events_with_id(&self, id: &str, limit: usize) -> Result<Vec<StoredId>, QueueError> {
        let mut found = Vec::new();
        for guard in self
            .event_keys
            .prefix(keys::event_id_prefix(id))
            .take(limit)
        {
            let (key, value) = guard.into_inner()?;
            let corrupt = || QueueError::Corrupt("malformed event key".into());
            let (tenant, source) = keys::split_event_key(&key, id).ok_or_else(corrupt)?;
            found.push(StoredId {
                tenant: tenant.to_owned(),
                source: source.to_owned(),
                seq: keys::read_seq(&value).ok_or_else(corrupt)?,
            });
        }
        Ok(found)
    }
}
