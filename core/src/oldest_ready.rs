//! How long the oldest ready delivery of each plugin has waited for an
//! instance slot: the queueing delay that admission control's
//! `oldest_ready` mark and `weir_oldest_ready_age_seconds` report. Each store
//! measures a plugin's wait its own way, every second; this records it.
//!
//! A paused or removed plugin is left out of the mark: its deliveries wait
//! by an operator's decision, not for lack of capacity, and must not make
//! ingest shed for everyone else.

use crate::Shared;
use crate::metrics::plugin as plugin_label;
use crate::plugins::Plugin;

/// Sets each plugin's gauge to what `waited_ms` measures of it (ms), and
/// the backlog's wait to the longest over running plugins.
pub fn record<E>(
    shared: &Shared,
    mut waited_ms: impl FnMut(&Plugin) -> Result<u64, E>,
) -> Result<(), E> {
    let mut oldest = 0;
    for plugin in shared.plugins.all() {
        let waited = waited_ms(&plugin)?;
        (shared.metrics.oldest_ready_age)
            .get_or_create(&plugin_label(&plugin.name))
            .set(waited as f64 / 1000.0);
        if plugin.gate.borrow().open() {
            oldest = oldest.max(waited);
        }
    }
    shared.backlog.set_oldest_ready_ms(oldest);
    Ok(())
}
