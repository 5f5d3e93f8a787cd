//! The backlog on NATS, measured rather than counted: every second each node
//! reads how many deliveries each plugin has in the deliveries stream
//! (waiting or running, on any node) into `weir_queue_depth` and into the
//! total that admission control compares with `[ingest] backlog_high_water`,
//! so every node sheds on the cluster's backlog.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::{Nats, NatsError};
use weir_core::Shared;
use weir_core::metrics::Metrics;
use weir_core::metrics::plugin as plugin_label;

/// How often the backlog is measured: admission reacts within this.
const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// Measures until `stop` is cancelled.
pub async fn measure_backlog(nats: Arc<Nats>, shared: Shared, stop: CancellationToken) {
    let mut every = tokio::time::interval(MEASURE_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let by_plugin = match nats.backlog_by_plugin().await {
            Ok(by_plugin) => by_plugin,
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
        shared.backlog.measured(by_plugin.values().sum());
    }
}

fn set_depth(metrics: &Metrics, plugin: &str, depth: u64) {
    metrics
        .queue_depth
        .get_or_create(&plugin_label(plugin))
        .set(i64::try_from(depth).unwrap_or(i64::MAX));
}

impl Nats {
    /// How many deliveries each plugin has in the deliveries stream.
    async fn backlog_by_plugin(&self) -> Result<BTreeMap<String, u64>, NatsError> {
        let failed = |e: &dyn std::fmt::Display| NatsError::request("measure the backlog", e);
        let mut subjects = self
            .deliveries
            .info_with_subjects(self.names.deliveries_subjects())
            .await
            .map_err(|e| failed(&e))?;
        let mut by_plugin = BTreeMap::new();
        while let Some((subject, count)) = subjects.try_next().await.map_err(|e| failed(&e))? {
            if let Some(plugin) = self.names.plugin_of_delivery(&subject) {
                *by_plugin.entry(plugin.to_owned()).or_default() += count as u64;
            }
        }
        Ok(by_plugin)
    }
}
