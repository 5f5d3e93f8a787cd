//! The backlog: deliveries not yet done or dead, in total and per tenant, and
//! how long the oldest ready one has waited for a slot. Admission control
//! compares them with its marks; `GET /v1/tenants` shows the tenants.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Pending deliveries, counted as they are added and finished.
#[derive(Default)]
pub struct Backlog {
    total: AtomicI64,
    /// Only tenants with pending deliveries have an entry, so the map stays
    /// as small as the set of tenants with work in flight.
    per_tenant: Mutex<HashMap<String, i64>>,
    /// Measured every second by each store ([`crate::oldest_ready`]).
    oldest_ready_ms: AtomicU64,
}

impl Backlog {
    /// Counts `change` more (or fewer) pending deliveries of `tenant`.
    pub fn change(&self, tenant: &str, change: i64) {
        self.total.fetch_add(change, Ordering::Relaxed);
        let mut per_tenant = self.per_tenant.lock().unwrap_or_else(|p| p.into_inner());
        // Called once per finished delivery: allocate the key only for a new tenant.
        let Some(count) = per_tenant.get_mut(tenant) else {
            per_tenant.insert(tenant.to_owned(), change);
            return;
        };
        *count += change;
        if *count == 0 {
            per_tenant.remove(tenant);
        }
    }

    /// Sets the total to `total`, and each tenant's count to `per_tenant`,
    /// as measured by a store shared by several nodes: there, deliveries
    /// are added and finished on every node, so none of them could count
    /// them by [`Backlog::change`]. The total also counts deliveries whose
    /// tenant the measure does not tell.
    pub fn measured(&self, total: u64, per_tenant: HashMap<String, u64>) {
        self.total
            .store(i64::try_from(total).unwrap_or(i64::MAX), Ordering::Relaxed);
        let per_tenant = (per_tenant.into_iter())
            .filter(|(_, count)| *count > 0)
            .map(|(tenant, count)| (tenant, i64::try_from(count).unwrap_or(i64::MAX)))
            .collect();
        *self.per_tenant.lock().unwrap_or_else(|p| p.into_inner()) = per_tenant;
    }

    /// Pending deliveries over all tenants.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed).max(0) as u64
    }

    /// Pending deliveries of `tenant`.
    pub fn of(&self, tenant: &str) -> u64 {
        let per_tenant = self.per_tenant.lock().unwrap_or_else(|p| p.into_inner());
        per_tenant.get(tenant).copied().unwrap_or(0).max(0) as u64
    }

    /// How long (ms) the oldest ready delivery of a running plugin has waited.
    pub fn oldest_ready_ms(&self) -> u64 {
        self.oldest_ready_ms.load(Ordering::Relaxed)
    }

    /// Records a new measure of [`Backlog::oldest_ready_ms`].
    pub fn set_oldest_ready_ms(&self, waited_ms: u64) {
        self.oldest_ready_ms.store(waited_ms, Ordering::Relaxed);
    }

    /// Every tenant with pending deliveries, and how many.
    pub fn tenants(&self) -> Vec<(String, u64)> {
        let per_tenant = self.per_tenant.lock().unwrap_or_else(|p| p.into_inner());
        let mut tenants: Vec<(String, u64)> = per_tenant
            .iter()
            .map(|(tenant, &count)| (tenant.clone(), count.max(0) as u64))
            .collect();
        tenants.sort();
        tenants
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_tenant_and_forgets_idle_ones() {
        let backlog = Backlog::default();
        backlog.change("a", 3);
        backlog.change("b", 1);
        backlog.change("a", -1);
        assert_eq!(
            (backlog.total(), backlog.of("a"), backlog.of("b")),
            (3, 2, 1)
        );
        backlog.change("b", -1);
        assert_eq!(backlog.tenants(), vec![("a".to_owned(), 2)]);
    }

    #[test]
    fn a_measure_replaces_the_counts_and_forgets_idle_tenants() {
        let backlog = Backlog::default();
        backlog.change("gone", 4);
        let measure = HashMap::from([("a".to_owned(), 5), ("idle".to_owned(), 0)]);
        backlog.measured(7, measure);
        assert_eq!((backlog.total(), backlog.of("a")), (7, 5));
        assert_eq!(backlog.tenants(), vec![("a".to_owned(), 5)]);
    }
}
