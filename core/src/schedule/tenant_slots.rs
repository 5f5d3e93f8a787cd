//! Each tenant's share and cap: its weight within a priority, and how many of
//! its deliveries may run at once over all plugins (`max_in_flight`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::fair::Tenants;
use crate::config::{Config, TenantLimits};

/// The tenants' limits and their deliveries running now.
pub struct TenantSlots {
    defaults: TenantLimits,
    tenants: BTreeMap<String, TenantLimits>,
    /// Running deliveries per tenant with a cap; others are not counted.
    running: Mutex<HashMap<String, u32>>,
}

impl TenantSlots {
    /// The limits `config` sets; nothing runs yet.
    pub fn new(config: &Config) -> TenantSlots {
        TenantSlots {
            defaults: config.tenant_defaults.clone(),
            tenants: config.tenants.clone(),
            running: Mutex::default(),
        }
    }

    fn limits(&self, tenant: &str) -> &TenantLimits {
        self.tenants.get(tenant).unwrap_or(&self.defaults)
    }

    /// Takes a slot of `tenant` if it has room; false if it is at its cap.
    pub fn try_take(&self, tenant: &str) -> bool {
        let Some(cap) = self.limits(tenant).max_in_flight else {
            return true;
        };
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let count = running.entry(tenant.to_owned()).or_default();
        if *count >= cap {
            return false;
        }
        *count += 1;
        true
    }

    /// Gives back a slot [`TenantSlots::try_take`] took. Returns true if the
    /// tenant has a cap, so workers passing it over should look again.
    pub fn give_back(&self, tenant: &str) -> bool {
        if self.limits(tenant).max_in_flight.is_none() {
            return false;
        }
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = running.get_mut(tenant) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(tenant);
            }
        }
        true
    }
}

impl Tenants for TenantSlots {
    fn weight(&self, tenant: &str) -> u32 {
        self.limits(tenant).weight
    }

    fn has_room(&self, tenant: &str) -> bool {
        let Some(cap) = self.limits(tenant).max_in_flight else {
            return true;
        };
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running.get(tenant).copied().unwrap_or(0) < cap
    }
}
