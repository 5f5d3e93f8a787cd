//! Operators' plugin pauses on NATS, for the whole cluster: a pause is a key
//! `plugin.NAME` in the bucket `PREFIX_pauses`, and every node watches the
//! bucket and pauses or resumes its plugin of that name. A node that starts
//! reads the pauses before its plugins load, so a paused plugin never runs
//! there, not even for a moment.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::{Nats, NatsError};
use weir_core::Shared;
use weir_core::metrics::Metrics;
use weir_core::plugins::Plugins;

/// The bucket key prefix of plugin pauses.
const PLUGIN: &str = "plugin.";

/// How long a watcher that lost its watch waits before watching again.
const WATCH_AGAIN: Duration = Duration::from_secs(1);

impl Nats {
    /// Keeps `plugin` paused (or not) for every node.
    pub async fn set_plugin_paused(&self, plugin: &str, paused: bool) -> Result<(), NatsError> {
        let key = format!("{PLUGIN}{plugin}");
        let failed = |e: &dyn std::fmt::Display| NatsError::request("keep a pause", e);
        if paused {
            self.pauses
                .put(&key, bytes::Bytes::new())
                .await
                .map_err(|e| failed(&e))?;
        } else {
            self.pauses.delete(&key).await.map_err(|e| failed(&e))?;
        }
        Ok(())
    }

    /// The plugins paused now.
    async fn paused_plugins(&self) -> Result<Vec<String>, NatsError> {
        let failed = |e: &dyn std::fmt::Display| NatsError::request("read the pauses", e);
        let keys: Vec<String> = (self.pauses.keys().await.map_err(|e| failed(&e))?)
            .try_collect()
            .await
            .map_err(|e| failed(&e))?;
        Ok(keys
            .iter()
            .filter_map(|key| key.strip_prefix(PLUGIN))
            .map(str::to_owned)
            .collect())
    }
}

/// Applies the cluster's plugin pauses to the registry `plugins` now.
pub async fn restore_plugin_pauses(
    nats: &Nats,
    plugins: &Plugins,
    metrics: &Metrics,
) -> Result<(), NatsError> {
    for plugin in nats.paused_plugins().await? {
        tracing::warn!(plugin = %plugin, "plugin paused by an operator; still paused");
        plugins.set_paused(&plugin, true, metrics);
    }
    Ok(())
}

/// Applies every pause or resume any node makes, until `stop` is cancelled.
pub async fn watch_plugin_pauses(nats: Arc<Nats>, shared: Shared, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            ended = follow(&nats, &shared.plugins, &shared.metrics) => {
                let error = ended.err().map(|e| e.to_string()).unwrap_or_else(|| "it ended".into());
                tracing::warn!(%error, "lost the watch of plugin pauses; watching again");
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(WATCH_AGAIN) => {}
        }
    }
}

/// Follows the pauses from their current state on (applying it again is
/// harmless), until the watch fails.
async fn follow(nats: &Nats, plugins: &Plugins, metrics: &Metrics) -> Result<(), NatsError> {
    let failed = |e: &dyn std::fmt::Display| NatsError::request("watch the pauses", e);
    let mut changes = nats
        .pauses
        .watch_with_history(format!("{PLUGIN}>"))
        .await
        .map_err(|e| failed(&e))?;
    while let Some(change) = changes.try_next().await.map_err(|e| failed(&e))? {
        let Some(plugin) = change.key.strip_prefix(PLUGIN) else {
            continue;
        };
        let paused = change.operation == Operation::Put;
        if plugins.is_paused(plugin) != paused {
            tracing::warn!(
                plugin,
                paused,
                "plugin paused or resumed by an operator on another node"
            );
        }
        plugins.set_paused(plugin, paused, metrics);
    }
    Ok(())
}
