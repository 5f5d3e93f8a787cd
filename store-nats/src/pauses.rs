//! Operators' pauses on NATS, for the whole cluster: a pause is a key
//! `plugin.NAME` or `tenant.NAME` in the bucket `PREFIX_pauses`, and every
//! node watches the bucket and pauses or resumes its plugin or tenant of
//! that name. A node that starts reads the pauses before its plugins load,
//! so a paused plugin never runs there, not even for a moment, and a paused
//! tenant's deliveries are held from the first.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv::Operation;
use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;

use super::{Nats, NatsError};
use weir_core::Shared;

/// What a pause is of: the key prefix of each in the bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// A plugin: none of its deliveries start.
    Plugin,
    /// A tenant: its deliveries are held (`held.rs`).
    Tenant,
}

impl Scope {
    fn prefix(self) -> &'static str {
        match self {
            Scope::Plugin => "plugin.",
            Scope::Tenant => "tenant.",
        }
    }

    /// The scope and name a bucket key stands for.
    fn of(key: &str) -> Option<(Scope, &str)> {
        [Scope::Plugin, Scope::Tenant]
            .into_iter()
            .find_map(|scope| Some((scope, key.strip_prefix(scope.prefix())?)))
    }
}

/// How long a watcher that lost its watch waits before watching again.
const WATCH_AGAIN: Duration = Duration::from_secs(1);

impl Nats {
    /// Keeps the plugin or tenant `name` paused (or not) for every node.
    pub async fn set_paused(
        &self,
        scope: Scope,
        name: &str,
        paused: bool,
    ) -> Result<(), NatsError> {
        let key = format!("{}{name}", scope.prefix());
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

    /// The plugins and tenants paused now.
    async fn paused(&self) -> Result<Vec<(Scope, String)>, NatsError> {
        let failed = |e: &dyn std::fmt::Display| NatsError::request("read the pauses", e);
        let keys: Vec<String> = (self.pauses.keys().await.map_err(|e| failed(&e))?)
            .try_collect()
            .await
            .map_err(|e| failed(&e))?;
        Ok(keys
            .iter()
            .filter_map(|key| Scope::of(key))
            .map(|(scope, name)| (scope, name.to_owned()))
            .collect())
    }
}

/// Applies the cluster's pauses to this node's `shared` parts now.
pub async fn restore_pauses(nats: &Nats, shared: &Shared) -> Result<(), NatsError> {
    for (scope, name) in nats.paused().await? {
        match scope {
            Scope::Plugin => {
                tracing::warn!(plugin = %name, "plugin paused by an operator; still paused");
                shared.plugins.set_paused(&name, true, &shared.metrics);
            }
            Scope::Tenant => {
                tracing::warn!(tenant = %name, "tenant paused by an operator; still paused");
                shared.tenant_pauses.set(&name, true);
            }
        }
    }
    Ok(())
}

/// Applies every pause or resume any node makes, until `stop` is cancelled.
pub async fn watch_pauses(nats: Arc<Nats>, shared: Shared, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            ended = follow(&nats, &shared) => {
                let error = ended.err().map(|e| e.to_string()).unwrap_or_else(|| "it ended".into());
                tracing::warn!(%error, "lost the watch of pauses; watching again");
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
async fn follow(nats: &Arc<Nats>, shared: &Shared) -> Result<(), NatsError> {
    let failed = |e: &dyn std::fmt::Display| NatsError::request("watch the pauses", e);
    let mut changes = nats
        .pauses
        .watch_with_history(">")
        .await
        .map_err(|e| failed(&e))?;
    while let Some(change) = changes.try_next().await.map_err(|e| failed(&e))? {
        let Some((scope, name)) = Scope::of(&change.key) else {
            continue;
        };
        let paused = change.operation == Operation::Put;
        match scope {
            Scope::Plugin => {
                if shared.plugins.is_paused(name) != paused {
                    tracing::warn!(
                        plugin = name,
                        paused,
                        "plugin paused or resumed by an operator on another node"
                    );
                }
                shared.plugins.set_paused(name, paused, &shared.metrics);
            }
            Scope::Tenant if paused => {
                if shared.tenant_pauses.set(name, true) {
                    tracing::warn!(
                        tenant = name,
                        "tenant paused by an operator on another node"
                    );
                }
            }
            Scope::Tenant => {
                if nats.mark_resumed(&shared.tenant_pauses, name).await {
                    tracing::warn!(
                        tenant = name,
                        "tenant resumed by an operator on another node"
                    );
                    let routes = shared.routes.clone();
                    tokio::spawn(super::held::release_later(
                        nats.clone(),
                        routes,
                        name.to_owned(),
                    ));
                }
            }
        }
    }
    Ok(())
}
