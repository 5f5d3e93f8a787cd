//! Operators' pauses of plugins and tenants, kept in `meta` (`paused/plugin/NAME`,
//! `paused/tenant/NAME`) so that a restart during an incident keeps them.

use super::{Queue, QueueError};

/// What an operator paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PauseScope {
    /// A plugin: none of its deliveries start.
    Plugin,
    /// A tenant: its deliveries are held in the queue.
    Tenant,
}

impl PauseScope {
    fn prefix(self) -> &'static str {
        match self {
            PauseScope::Plugin => "paused/plugin/",
            PauseScope::Tenant => "paused/tenant/",
        }
    }
}

impl Queue {
    /// Records that `name` is paused (or not), durably.
    pub fn set_paused(
        &self,
        scope: PauseScope,
        name: &str,
        paused: bool,
    ) -> Result<(), QueueError> {
        let key = format!("{}{name}", scope.prefix());
        if paused {
            self.meta.insert(key, [])?;
        } else {
            self.meta.remove(key)?;
        }
        self.sync()
    }

    /// The names paused in `scope`.
    pub fn paused(&self, scope: PauseScope) -> Result<Vec<String>, QueueError> {
        let prefix = scope.prefix();
        self.meta
            .prefix(prefix)
            .map(|guard| {
                let key = guard.key()?;
                Ok(String::from_utf8_lossy(&key[prefix.len()..]).into_owned())
            })
            .collect()
    }
}
