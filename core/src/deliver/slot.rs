//! The instance slot a delivery runs its handler in. It is held only while
//! the handler runs: a delivery whose ending the store is writing, or
//! whose retry waits in place, leaves it to others, so a plugin's slots
//! bound the handlers running at once, not the deliveries in flight. A
//! delivery leased ahead of a free slot holds a place ahead instead, until
//! it takes one.

use std::sync::Arc;

use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, plugin as plugin_label};
use crate::plugins::Plugin;

/// One delivery's instance slot, held or not.
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    /// Its place among the plugin's deliveries leased ahead, until it first
    /// takes a slot.
    ahead: Option<OwnedSemaphorePermit>,
    plugin: Arc<Plugin>,
    busy: Gauge,
    stop: CancellationToken,
}

impl Slot {
    /// The slot `permit` holds, for a delivery of `plugin` that gives it
    /// up when `stop` is cancelled.
    pub fn taken(
        permit: OwnedSemaphorePermit,
        metrics: &Metrics,
        plugin: Arc<Plugin>,
        stop: &CancellationToken,
    ) -> Slot {
        let mut slot = Slot::holding_nothing(metrics, plugin, stop);
        slot.busy.inc();
        slot.permit = Some(permit);
        slot
    }

    /// No slot yet, for a delivery leased ahead that holds `place` among
    /// them until it takes one ([`Slot::take`]).
    pub fn ahead(
        place: OwnedSemaphorePermit,
        metrics: &Metrics,
        plugin: Arc<Plugin>,
        stop: &CancellationToken,
    ) -> Slot {
        let mut slot = Slot::holding_nothing(metrics, plugin, stop);
        slot.ahead = Some(place);
        slot
    }

    /// A slot record for `plugin` that holds neither a slot nor a place yet.
    fn holding_nothing(metrics: &Metrics, plugin: Arc<Plugin>, stop: &CancellationToken) -> Slot {
        let busy = (metrics.instances_busy)
            .get_or_create(&plugin_label(&plugin.name))
            .clone();
        Slot {
            permit: None,
            ahead: None,
            plugin,
            busy,
            stop: stop.clone(),
        }
    }

    /// Whether the slot is held.
    pub fn held(&self) -> bool {
        self.permit.is_some()
    }

    /// Frees the slot, if it is held.
    pub fn free(&mut self) {
        if let Some(permit) = self.permit.take() {
            // Only once the permit is back is the slot free: a worker woken
            // before would count it busy, wait again under the adaptive
            // limit, and miss this one notification.
            drop(permit);
            self.busy.dec();
            self.plugin.slot_freed.notify_one();
        }
    }

    /// Holds the slot again, taking one under the adaptive limit if it was
    /// freed; false, holding none, if it was freed and the plugin is now
    /// paused or removed, or weir is stopping: the delivery then goes back
    /// to the store.
    pub async fn take(&mut self) -> bool {
        if self.permit.is_some() {
            return true;
        }
        if !self.plugin.gate.borrow().open() {
            return false;
        }
        let mut gate = self.plugin.gate.subscribe();
        let Some(permit) = self.plugin.slot_under_limit(&mut gate, &self.stop).await else {
            return false;
        };
        self.permit = Some(permit);
        self.ahead = None;
        self.busy.inc();
        true
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.free();
    }
}
