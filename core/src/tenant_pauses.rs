//! The tenants an operator paused: their deliveries are held, not run. One
//! set per node, which the API and the store read; the store keeps it
//! durable and, where several nodes share it, the same on each.

use std::collections::BTreeSet;
use std::sync::RwLock;

/// The paused tenants.
#[derive(Debug, Default)]
pub struct TenantPauses(RwLock<BTreeSet<String>>);

impl TenantPauses {
    /// Whether `tenant` is paused.
    pub fn is_paused(&self, tenant: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(tenant)
    }

    /// Every paused tenant, by name.
    pub fn all(&self) -> Vec<String> {
        let paused = self.0.read().unwrap_or_else(|p| p.into_inner());
        paused.iter().cloned().collect()
    }

    /// Marks `tenant` paused or not; whether that changed anything.
    pub fn set(&self, tenant: &str, paused: bool) -> bool {
        let mut tenants = self.0.write().unwrap_or_else(|p| p.into_inner());
        if paused {
            tenants.insert(tenant.to_owned())
        } else {
            tenants.remove(tenant)
        }
    }
}
