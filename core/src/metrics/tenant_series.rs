//! The per-tenant metric series, opt-in and capped: `[metrics] tenant_series
//! = N` gives the first N tenants seen a series each and counts the rest
//! under `_other`, so ten thousand tenants cannot make ten thousand series.

use std::collections::HashSet;
use std::sync::Mutex;

use super::{OTHER_TENANTS, TenantLabel};

/// Which tenants have a series of their own.
pub struct TenantSeries {
    cap: usize,
    named: Mutex<HashSet<String>>,
}

impl TenantSeries {
    /// Series for at most `cap` tenants; 0 turns per-tenant series off.
    pub fn new(cap: usize) -> TenantSeries {
        TenantSeries {
            cap,
            named: Mutex::new(HashSet::new()),
        }
    }

    /// The label `tenant`'s samples go under, or `None` when per-tenant
    /// series are off. A tenant keeps the label it was first given.
    pub fn label(&self, tenant: &str) -> Option<TenantLabel> {
        if self.cap == 0 {
            return None;
        }
        let mut named = self.named.lock().unwrap_or_else(|p| p.into_inner());
        let own =
            named.contains(tenant) || (named.len() < self.cap && named.insert(tenant.to_owned()));
        let tenant = if own { tenant } else { OTHER_TENANTS };
        Some(TenantLabel {
            tenant: tenant.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(series: &TenantSeries, tenant: &str) -> Option<String> {
        series.label(tenant).map(|label| label.tenant)
    }

    #[test]
    fn off_gives_no_label() {
        assert_eq!(name(&TenantSeries::new(0), "acme"), None);
    }

    #[test]
    fn tenants_past_the_cap_share_other_and_the_first_keep_theirs() {
        let series = TenantSeries::new(2);
        assert_eq!(name(&series, "acme").as_deref(), Some("acme"));
        assert_eq!(name(&series, "beta").as_deref(), Some("beta"));
        assert_eq!(name(&series, "gamma").as_deref(), Some(OTHER_TENANTS));
        assert_eq!(name(&series, "acme").as_deref(), Some("acme"));
        assert_eq!(name(&series, "delta").as_deref(), Some(OTHER_TENANTS));
    }
}
