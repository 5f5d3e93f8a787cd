//! The lane a delivery waits in: its event's priority and tenant. The `ready`
//! index keeps each plugin's lanes apart, so dispatch can choose between them.

use crate::event::{Event, Priority};

/// Where a ready delivery waits, within its plugin.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lane {
    /// Its event's priority.
    pub priority: Priority,
    /// Its event's tenant.
    pub tenant: String,
}

impl Lane {
    /// The lane of `event`'s deliveries.
    pub fn of(event: &Event) -> Lane {
        Lane {
            priority: event.priority,
            tenant: event.tenant.clone(),
        }
    }
}
