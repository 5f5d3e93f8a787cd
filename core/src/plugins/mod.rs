//! The plugins weir runs, as the scheduler sees them: each with the version new
//! deliveries run on and what lives across its versions (instance slots,
//! pause, circuit breakers, adaptive concurrency).

mod registry;

use std::sync::{Arc, RwLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_util::sync::CancellationToken;

use crate::runtime::Version;

pub use registry::{Plugins, Rejection};

/// Why a plugin takes no new deliveries; they wait in the queue meanwhile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gate {
    /// An operator paused it.
    pub paused: bool,
    /// Its file was removed from the plugin directory.
    pub removed: bool,
}

impl Gate {
    /// Whether deliveries may be leased.
    pub fn open(self) -> bool {
        !self.paused && !self.removed
    }
}

/// A plugin: the version new deliveries run on, and what lives across its
/// versions (instance slots, pause, breakers, adaptive concurrency).
pub struct Plugin {
    /// Its name (the file stem).
    pub name: Arc<str>,
    current: RwLock<Arc<Version>>,
    /// Instance slots, fixed when it was first loaded: the pool was sized for them.
    pub instances: u32,
    /// Free instance slots: a delivery runs only while it holds one.
    pub slots: Arc<Semaphore>,
    /// Whether deliveries may be leased now, and why not.
    pub gate: tokio::sync::watch::Sender<Gate>,
    /// Its circuit breakers, per route and tenant: each stops feeding the
    /// plugin that scope's deliveries while they keep trapping.
    pub breakers: crate::schedule::Breakers,
    /// How many of its slots it may use now, adapted to its latency.
    pub concurrency: crate::schedule::AdaptiveLimit,
    /// Signalled when one of its deliveries ends and frees a slot.
    pub slot_freed: tokio::sync::Notify,
    /// Room for deliveries leased ahead of a free slot, one per instance
    /// slot: each holds a place until it takes a slot.
    pub ahead: Arc<Semaphore>,
}

impl Plugin {
    /// A plugin serving `version`, with its slots and breakers sized by its limits.
    pub fn new(version: Version) -> Plugin {
        let limits = &version.limits;
        Plugin {
            name: version.name.clone(),
            instances: limits.instances,
            slots: Arc::new(Semaphore::new(limits.instances as usize)),
            gate: tokio::sync::watch::Sender::new(Gate::default()),
            breakers: crate::schedule::Breakers::new(limits.breaker.clone()),
            concurrency: crate::schedule::AdaptiveLimit::new(limits.instances),
            slot_freed: tokio::sync::Notify::new(),
            ahead: Arc::new(Semaphore::new(limits.instances as usize)),
            current: RwLock::new(Arc::new(version)),
        }
    }

    /// Waits until the plugin takes deliveries (`gate`, subscribed to its
    /// gate) and an instance slot is free, and takes the slot; `None` once
    /// `stop` is cancelled.
    pub async fn free_slot(
        &self,
        gate: &mut watch::Receiver<Gate>,
        stop: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        tokio::select! {
            _ = stop.cancelled() => return None,
            opened = gate.wait_for(|gate| gate.open()) => if opened.is_err() { return None },
        }
        tokio::select! {
            _ = stop.cancelled() => None,
            permit = self.slots.clone().acquire_owned() => permit.ok(),
        }
    }

    /// Like [`Plugin::free_slot`], and the slot is within the adaptive
    /// limit: while more slots are busy than the limit allows, it waits
    /// for one to be freed.
    pub async fn slot_under_limit(
        &self,
        gate: &mut watch::Receiver<Gate>,
        stop: &CancellationToken,
    ) -> Option<OwnedSemaphorePermit> {
        loop {
            let permit = self.free_slot(gate, stop).await?;
            if self.busy_slots() <= self.concurrency.current() as usize {
                return Some(permit);
            }
            drop(permit);
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = self.slot_freed.notified() => {}
            }
        }
    }

    /// Slots in use, those held by the caller included.
    pub fn busy_slots(&self) -> usize {
        self.instances as usize - self.slots.available_permits()
    }

    /// The version a delivery starting now runs on.
    pub fn current(&self) -> Arc<Version> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Makes `version` the one new deliveries run on; running ones finish on
    /// theirs. Returns the version it replaced.
    pub fn swap(&self, version: Version) -> Arc<Version> {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::mem::replace(&mut *current, Arc::new(version))
    }

    /// Pauses or resumes leasing its deliveries, shown in `weir_plugin_paused`
    /// (the caller persists the pause).
    pub fn set_paused(&self, paused: bool, metrics: &crate::metrics::Metrics) {
        self.gate.send_modify(|gate| gate.paused = paused);
        metrics
            .plugin_paused
            .get_or_create(&crate::metrics::plugin(&self.name))
            .set(i64::from(paused));
    }

    /// Marks its file removed (nothing new is leased) or back.
    pub fn set_removed(&self, removed: bool) {
        self.gate.send_modify(|gate| gate.removed = removed);
    }
}
