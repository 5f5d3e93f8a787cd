//! Which dead letters a listing or a bulk replay takes.

use crate::event::Event;

/// Which dead letters to list or replay; `None` matches anything.
#[derive(Debug, Default, Clone)]
pub struct DeadFilter {
    /// Only this plugin's.
    pub plugin: Option<String>,
    /// Only events of this tenant.
    pub tenant: Option<String>,
    /// Only events of this type.
    pub kind: Option<String>,
}

impl DeadFilter {
    /// Whether `event` is of the tenant and type asked for (the plugin is
    /// the delivery's, matched where the letters are looked up).
    pub fn takes(&self, event: &Event) -> bool {
        self.tenant.as_ref().is_none_or(|t| *t == event.tenant)
            && self.kind.as_ref().is_none_or(|k| *k == event.kind)
    }
}
