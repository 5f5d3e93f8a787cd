//! The latest plugin reloads, for the dashboard's plugin table: when, which
//! plugin, and what became of the change.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::Serialize;

use crate::event::now_ms;

/// Reloads kept, newest first.
const RELOADS_KEPT: usize = 50;

/// One change to a plugin's files.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reload {
    /// When it was seen, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The plugin.
    pub plugin: String,
    /// `loaded`, `rejected` or `removed`.
    pub result: String,
}

/// The latest reloads.
#[derive(Default)]
pub struct ReloadLog(Mutex<VecDeque<Reload>>);

impl ReloadLog {
    /// Records that a change to `plugin` was `result`.
    pub fn record(&self, plugin: &str, result: &str) {
        let mut reloads = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if reloads.len() == RELOADS_KEPT {
            reloads.pop_back();
        }
        reloads.push_front(Reload {
            at_ms: now_ms(),
            plugin: plugin.to_owned(),
            result: result.to_owned(),
        });
    }

    /// The reloads kept, newest first.
    pub fn recent(&self) -> Vec<Reload> {
        let reloads = self.0.lock().unwrap_or_else(|p| p.into_inner());
        reloads.iter().cloned().collect()
    }
}
