//! The backlog on NATS, measured rather than counted: every second each node
//! reads how many deliveries each plugin and each tenant has in the
//! deliveries stream (waiting or running, on any node) into
//! `weir_queue_depth` and into the counts that admission control compares
//! with `[ingest] backlog_high_water` and the tenants' quotas (and into
//! `weir_tenant_queue_depth`, if it is on), so every
//! node sheds on the cluster's backlog. Each also records how long its
//! ready deliveries have waited (`waits.rs`), for the `oldest_ready` mark.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::{Nats, NatsError};
use weir_core::Shared;
use weir_core::metrics::Metrics;
use weir_core::metrics::tenant_series::TenantSeries;
use weir_core::metrics::{TenantLabel, plugin as plugin_label};
use weir_core::plugins::Plugin;
use weir_event::now_ms;

/// How often the backlog is measured: admission reacts within this.
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// Measures until `stop` is cancelled.
pub async fn measure_backlog(nats: Arc<Nats>, shared: Shared, stop: CancellationToken) {
    let mut every = tokio::time::interval(MEASURE_EVERY);
    let mut tenant_depths = TenantDepths::new(shared.config.tenant_series);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        // How long ready deliveries wait is this node's own measure.
        let now = now_ms();
        let waited =
            |plugin: &Plugin| Ok::<_, Infallible>(nats.windows.waited_ms(&plugin.name, now));
        let Ok(()) = weir_core::oldest_ready::record(&shared, waited);
        let Measure {
            by_plugin,
            by_tenant,
            held,
        } = match nats.measure_backlog().await {
            Ok(measure) => measure,
            Err(error) => {
                tracing::warn!(%error, "cannot measure the backlog; admission goes by the last measure");
                continue;
            }
        };
        // A plugin with nothing waiting has no subject in the listing: its
        // gauge goes back to 0.
        for plugin in shared.plugins.all() {
            let depth = by_plugin.get(&*plugin.name).copied().unwrap_or(0);
            set_depth(&shared.metrics, &plugin.name, depth);
        }
        for (plugin, &depth) in &by_plugin {
            set_depth(&shared.metrics, plugin, depth);
        }
        tenant_depths.set(&shared.metrics, &by_tenant);
        let total = by_plugin.values().sum::<u64>() + held;
        shared.backlog.measured(total, by_tenant);
    }
}

/// `weir_tenant_queue_depth`, with `[metrics] tenant_series` on: each
/// measure sets the series of the tenants it counted (the first ones
/// measured each a series, the rest `_other`), and back to 0 those it no
/// longer counts.
struct TenantDepths {
    series: TenantSeries,
    /// The series the last measure set above 0.
    shown: HashSet<String>,
}

impl TenantDepths {
    fn new(tenant_series: usize) -> TenantDepths {
        TenantDepths {
            series: TenantSeries::new(tenant_series),
            shown: HashSet::new(),
        }
    }

    fn set(&mut self, metrics: &Metrics, by_tenant: &HashMap<String, u64>) {
        let mut depths: HashMap<String, u64> = self.shown.drain().map(|label| (label, 0)).collect();
        // Tenants met in one measure take their series in name order, so
        // which ones get one does not depend on how a map iterates.
        let mut tenants: Vec<(&String, &u64)> = by_tenant.iter().collect();
        tenants.sort_unstable();
        for (tenant, &count) in tenants {
            if let Some(label) = self.series.label(tenant) {
                *depths.entry(label.tenant).or_default() += count;
            }
        }
        for (tenant, depth) in depths {
            let gauge = metrics.tenant_queue_depth.get_or_create(&TenantLabel {
                tenant: tenant.clone(),
            });
            gauge.set(i64::try_from(depth).unwrap_or(i64::MAX));
            if depth > 0 {
                self.shown.insert(tenant);
            }
        }
    }
}

fn set_depth(metrics: &Metrics, plugin: &str, depth: u64) {
    metrics
        .queue_depth
        .get_or_create(&plugin_label(plugin))
        .set(i64::try_from(depth).unwrap_or(i64::MAX));
}

/// The deliveries in the deliveries stream, counted by plugin and by
/// tenant, and those held for paused tenants, which count for their tenant
/// (as on fjall, a held delivery is still pending). Deliveries an older weir
/// stored, and keyed ones, name no tenant in their subjects: they count for
/// their plugin only.
#[derive(Default)]
struct Measure {
    by_plugin: BTreeMap<String, u64>,
    by_tenant: HashMap<String, u64>,
    /// The held deliveries, over all tenants.
    held: u64,
}

impl Nats {
    /// How many deliveries each plugin and each tenant has in the
    /// deliveries stream, and each tenant in the held stream.
    async fn measure_backlog(&self) -> Result<Measure, NatsError> {
        let failed = |e: &dyn std::fmt::Display| NatsError::request("measure the backlog", e);
        let mut subjects = self
            .deliveries
            .info_with_subjects(self.names.deliveries_subjects())
            .await
            .map_err(|e| failed(&e))?;
        let mut measure = Measure::default();
        while let Some((subject, count)) = subjects.try_next().await.map_err(|e| failed(&e))? {
            let Some((plugin, tenant)) = self.names.delivery_of(&subject) else {
                continue;
            };
            *measure.by_plugin.entry(plugin.to_owned()).or_default() += count as u64;
            if let Some(tenant) = tenant {
                *measure.by_tenant.entry(tenant).or_default() += count as u64;
            }
        }
        let mut held = (self
            .held
            .info_with_subjects(self.names.held_subjects())
            .await)
            .map_err(|e| failed(&e))?;
        while let Some((subject, count)) = held.try_next().await.map_err(|e| failed(&e))? {
            if let Some(tenant) = self.names.tenant_of_held(&subject) {
                *measure.by_tenant.entry(tenant).or_default() += count as u64;
                measure.held += count as u64;
            }
        }
        Ok(measure)
    }
}
