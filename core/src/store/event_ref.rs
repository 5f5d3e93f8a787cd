//! An event as a request names it, by id: an event is unique by tenant,
//! source and id, so a tenant and a source narrow an id that several events
//! share; and a stored event as a store reads it back, with its deliveries.

use crate::event::Event;

use super::{DeliveryRecord, Seq, StoreError};

/// The event a request names.
#[derive(Debug, Clone)]
pub struct EventRef {
    /// The event's id.
    pub id: String,
    /// Its tenant, if the request names one (a tenant's token always does).
    pub tenant: Option<String>,
    /// Its source, if the request names one.
    pub source: Option<String>,
}

impl EventRef {
    /// Whether `event` is one it may name.
    pub fn takes(&self, event: &Event) -> bool {
        event.id == self.id
            && self.tenant.as_ref().is_none_or(|t| *t == event.tenant)
            && self.source.as_ref().is_none_or(|s| *s == event.source)
    }

    /// The one event `found` holds (each with the (tenant, source) its
    /// `identity` reads, and several copies of one event allowed): not
    /// found if none is, ambiguous if several events are.
    pub fn one_of<T>(
        &self,
        found: Vec<T>,
        identity: impl Fn(&T) -> (&str, &str),
    ) -> Result<T, StoreError> {
        let id = &self.id;
        let mut found = found.into_iter();
        let Some(first) = found.next() else {
            return Err(StoreError::NotFound(format!("no event with id {id:?}")));
        };
        let others: Vec<T> = found
            .filter(|other| identity(other) != identity(&first))
            .collect();
        if others.is_empty() {
            return Ok(first);
        }
        let named: Vec<String> = std::iter::once(&first)
            .chain(&others)
            .map(|found| {
                let (tenant, source) = identity(found);
                format!("tenant {tenant:?} source {source:?}")
            })
            .collect();
        Err(StoreError::Ambiguous(format!(
            "{} events have id {id:?} ({}); name one with ?tenant= and ?source=",
            named.len(),
            named.join(", ")
        )))
    }
}

/// A stored event, with its deliveries.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// Where it is in the log.
    pub sequence: Seq,
    /// The event.
    pub event: Event,
    /// Each plugin's delivery of it.
    pub deliveries: Vec<DeliveryRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(tenant: Option<&str>) -> EventRef {
        EventRef {
            id: "e-1".to_owned(),
            tenant: tenant.map(str::to_owned),
            source: None,
        }
    }

    #[test]
    fn one_event_found_once_or_twice_is_the_one() {
        let found = vec![("acme", "a"), ("acme", "a")];
        let one = named(None).one_of(found, |found| *found);
        assert_eq!(one.ok(), Some(("acme", "a")));
    }

    #[test]
    fn none_found_names_the_id() {
        let none: Vec<(&str, &str)> = Vec::new();
        let error = named(None).one_of(none, |found| *found).err();
        assert!(
            matches!(&error, Some(StoreError::NotFound(message)) if message.contains("\"e-1\"")),
            "{error:?}"
        );
    }

    #[test]
    fn several_events_are_ambiguous_and_each_is_named() {
        let found = vec![("acme", "a"), ("beta", "a"), ("acme", "b")];
        let error = named(None).one_of(found, |found| *found).err();
        let Some(StoreError::Ambiguous(message)) = error else {
            panic!("not ambiguous: {error:?}");
        };
        assert!(message.starts_with("3 events have id \"e-1\""), "{message}");
        for named in [r#"tenant "beta" source "a""#, r#"tenant "acme" source "b""#] {
            assert!(message.contains(named), "{message}");
        }
    }

    #[test]
    fn a_tenant_and_a_source_narrow_the_id() {
        let event = |tenant: &str| Event::new("e-1".into(), "a".into(), "t".into(), tenant.into());
        assert!(named(Some("acme")).takes(&event("acme")));
        assert!(!named(Some("acme")).takes(&event("beta")));
        assert!(named(None).takes(&event("beta")));
    }
}
