//! Every plugin's lanes: which (priority, tenant) lane to lease from next
//! (`fair.rs`), each lane's cursor into its `ready` range, and a wake-up.
//!
//! A writer that makes a delivery ready wakes its lane after the commit. The
//! worker leases under the same lock, so a lane it finds empty cannot be
//! filled and woken in between: the wake-up comes after, and sees it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Notify;

use super::{Fair, TenantSlots};
use crate::config::{Config, LaneWeights};
use crate::store::{Lane, Seq};

/// A delivery leased from a lane, at its place in the log.
pub trait LeasedAt {
    /// The sequence number of its event.
    fn seq(&self) -> Seq;
    /// The lane it waited in.
    fn lane(&self) -> &Lane;
}

/// One plugin's lanes.
pub struct PluginLanes {
    fair: Mutex<Fair>,
    wake: Notify,
}

impl PluginLanes {
    /// Leases from the lane whose turn it is, with `lease(lane, cursor)`;
    /// lanes found empty leave their turn. `None` when no lane has work a
    /// tenant has room for. A leased delivery holds a slot of its tenant
    /// until [`Lanes::finished`].
    pub fn lease_with<L: LeasedAt, E>(
        &self,
        tenants: &TenantSlots,
        mut lease: impl FnMut(&Lane, Seq) -> Result<Option<L>, E>,
    ) -> Result<Option<L>, E> {
        let mut fair = self.fair.lock().unwrap_or_else(|p| p.into_inner());
        // Each empty lane leaves its turn, so this ends; the bound is for
        // tenants that another plugin's worker filled to their cap meanwhile.
        for _ in 0..=fair.active_count() + 1 {
            let Some((lane, cursor)) = fair.next(tenants) else {
                return Ok(None);
            };
            if !tenants.try_take(&lane.tenant) {
                continue;
            }
            match lease(&lane, cursor) {
                Ok(Some(leased)) => {
                    fair.leased(&lane, leased.seq(), tenants);
                    return Ok(Some(leased));
                }
                Ok(None) => {
                    tenants.give_back(&lane.tenant);
                    fair.exhausted(&lane);
                }
                Err(error) => {
                    tenants.give_back(&lane.tenant);
                    return Err(error);
                }
            }
        }
        Ok(None)
    }

    /// Every lane that may have work, with its cursor: no ready delivery of
    /// the lane is before it.
    pub fn active(&self) -> Vec<(Lane, Seq)> {
        self.fair.lock().unwrap_or_else(|p| p.into_inner()).active()
    }

    /// Waits until something may be ready.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    fn ready(&self, lane: &Lane, seq: Seq) {
        self.fair
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .ready(lane, seq);
        self.nudge();
    }

    fn nudge(&self) {
        // notify_one stores a permit, so a worker that is about to wait still wakes.
        self.wake.notify_one();
    }
}

/// Every plugin's lanes, created on first use, and the tenants' slots.
pub struct Lanes {
    weights: LaneWeights,
    plugins: RwLock<HashMap<String, Arc<PluginLanes>>>,
    /// Tenants' weights and running deliveries, shared by every plugin.
    pub tenants: TenantSlots,
}

impl Lanes {
    /// No lane has work yet.
    pub fn new(config: &Config) -> Lanes {
        Lanes {
            weights: config.dispatch.lane_weights,
            plugins: RwLock::default(),
            tenants: TenantSlots::new(config),
        }
    }

    /// The lanes of `plugin`.
    pub fn of(&self, plugin: &str) -> Arc<PluginLanes> {
        if let Some(lanes) = self
            .plugins
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(plugin)
        {
            return lanes.clone();
        }
        let mut plugins = self.plugins.write().unwrap_or_else(|p| p.into_inner());
        plugins
            .entry(plugin.to_owned())
            .or_insert_with(|| {
                Arc::new(PluginLanes {
                    fair: Mutex::new(Fair::new(self.weights)),
                    wake: Notify::new(),
                })
            })
            .clone()
    }

    /// Tells `plugin`'s lanes that delivery `seq` is ready in `lane`.
    pub fn wake(&self, plugin: &str, lane: &Lane, seq: Seq) {
        self.of(plugin).ready(lane, seq);
    }

    /// Marks `found`, the lanes where `plugin`'s deliveries wait from an
    /// earlier run, as having work, and wakes its worker.
    pub fn discovered(&self, plugin: &str, found: Vec<Lane>) {
        let lanes = self.of(plugin);
        for lane in found {
            lanes.ready(&lane, 0);
        }
        lanes.nudge();
    }

    /// A delivery of `tenant` leased by [`PluginLanes::lease_with`] ended:
    /// its slot is free, and workers that passed the tenant over look again.
    pub fn finished(&self, tenant: &str) {
        if self.tenants.give_back(tenant) {
            for lanes in self
                .plugins
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .values()
            {
                lanes.nudge();
            }
        }
    }
}
