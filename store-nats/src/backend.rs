//! The NATS backend behind the queue stage's trait.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, join_all};

use super::pauses::Scope;
use super::replay::NatsRequeue;
use super::{Nats, NatsError};
use weir_core::Shared;
use weir_core::plugins::Plugin;
use weir_core::store::{Append, Appended, DeadFilter, RequestRecord, StoreError};
use weir_core::store::{
    Backend, DeadLetter, DeadLetterPage, DeadListing, EventLetters, EventRef, ReplayLog, Revived,
    StateEntries, StatePage, StoredEvent, Unready,
};
use weir_core::tasks::Tasks;
use weir_event::now_ms;
use weir_runtime::{CommittedState, StateRead};

/// The queue stage on a JetStream cluster.
pub struct NatsBackend {
    shared: Shared,
    nats: Arc<Nats>,
}

impl NatsBackend {
    /// The backend of a node's `shared` parts on the cluster `nats` connects to, with the
    /// cluster's plugin and tenant pauses applied; until weir stops it measures the
    /// cluster's backlog and follows the pauses other nodes make.
    pub async fn start(shared: Shared, nats: Nats) -> Result<NatsBackend, NatsError> {
        super::pauses::restore_pauses(&nats, &shared).await?;
        let nats = Arc::new(nats);
        let stop = shared.stop.clone();
        tokio::spawn(super::backlog::measure_backlog(
            nats.clone(),
            shared.clone(),
            stop.clone(),
        ));
        tokio::spawn(super::pauses::watch_pauses(
            nats.clone(),
            shared.clone(),
            stop,
        ));
        Ok(NatsBackend { shared, nats })
    }
}

impl NatsBackend {
    /// Stores one request's events and then records its answer, if it is keyed.
    async fn append_request(&self, request: Append) -> Appended {
        let Append {
            mut events,
            request_key,
        } = request;
        let ingested_at_ms = now_ms();
        for event in &mut events {
            event.ingested_at_ms = ingested_at_ms;
        }
        let routes = self.shared.routes.current();
        let admissions = self.nats.submit(&routes, &events).await?;
        // Recorded once the events are stored. A record that fails does not
        // fail the request, whose events are stored: a repeat is then
        // answered from the events' identities, and only events sent
        // without an id would be stored again.
        if let Some(key) = request_key
            && let Err(error) = self.nats.record_request(&key, &admissions).await
        {
            tracing::warn!(%error, key = %key.key, "the answer to a keyed request is not recorded");
        }
        Ok(admissions)
    }
}

impl Backend for NatsBackend {
    fn append(&self, round: Vec<Append>) -> BoxFuture<'_, Vec<Appended>> {
        // Each request publishes its own messages: they are in flight together.
        join_all(
            round
                .into_iter()
                .map(|request| self.append_request(request)),
        )
        .boxed()
    }

    fn serve(&self, tasks: &Tasks, plugin: Arc<Plugin>) {
        tasks.background.spawn(super::worker::serve_plugin(
            self.shared.clone(),
            self.nats.clone(),
            plugin,
            tasks.clone(),
        ));
    }

    fn set_plugin_paused(
        &self,
        plugin: &str,
        paused: bool,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let plugin = plugin.to_owned();
        async move { Ok(self.nats.set_paused(Scope::Plugin, &plugin, paused).await?) }.boxed()
    }

    fn set_tenant_paused(
        &self,
        tenant: &str,
        paused: bool,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let tenant = tenant.to_owned();
        async move {
            self.nats.set_paused(Scope::Tenant, &tenant, paused).await?;
            let pauses = &self.shared.tenant_pauses;
            if paused {
                pauses.set(&tenant, true);
                return Ok(0);
            }
            self.nats.mark_resumed(pauses, &tenant).await;
            Ok(self.nats.release_held(&self.shared.routes, &tenant).await?)
        }
        .boxed()
    }

    fn event(&self, event: EventRef) -> BoxFuture<'_, Result<StoredEvent, StoreError>> {
        async move {
            let routes = self.shared.routes.current();
            self.nats.event(&routes, &event).await
        }
        .boxed()
    }

    fn state_entries(&self, page: StatePage) -> BoxFuture<'_, Result<StateEntries, StoreError>> {
        async move { Ok(self.nats.state_entries(&page).await?) }.boxed()
    }

    fn dead_letters(&self, page: DeadLetterPage) -> BoxFuture<'_, Result<DeadListing, StoreError>> {
        async move { self.nats.dead_letters(&page).await }.boxed()
    }

    fn newest_dead_letters(
        &self,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<DeadLetter>, StoreError>> {
        async move { self.nats.newest_dead_letters(limit).await }.boxed()
    }

    fn revive_event(
        &self,
        letters: EventLetters,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        async move {
            let routes = self.shared.routes.current();
            self.nats.revive_event(&routes, &letters).await
        }
        .boxed()
    }

    fn discard_event(
        &self,
        letters: EventLetters,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        async move { self.nats.discard_event(&letters).await }.boxed()
    }

    fn revive_matching(
        &self,
        filter: DeadFilter,
        limit: usize,
    ) -> BoxFuture<'_, Result<Revived, StoreError>> {
        async move {
            let routes = self.shared.routes.current();
            self.nats.revive_matching(&routes, &filter, limit).await
        }
        .boxed()
    }

    fn replay_log(&self, plugin: &str) -> BoxFuture<'_, Result<ReplayLog, StoreError>> {
        let plugin = plugin.to_owned();
        async move {
            let (oldest, newest) = self.nats.event_bounds().await?;
            let requeue = NatsRequeue {
                routes: self.shared.routes.clone(),
                nats: self.nats.clone(),
                generation: self.nats.next_generation(&plugin).await?,
            };
            Ok(ReplayLog {
                // A stream never written reports 0 for both.
                oldest: oldest.max(1),
                newest,
                queue: Box::new(requeue),
            })
        }
        .boxed()
    }

    fn node(&self) -> Option<&str> {
        Some(self.nats.node())
    }

    fn unready(&self) -> Option<Unready> {
        // The client reconnects by itself; meanwhile a load balancer should
        // send requests to another node.
        (!self.nats.connected()).then_some(Unready::Disconnected)
    }

    fn request_record(
        &self,
        scope: &str,
        key: &str,
    ) -> BoxFuture<'_, Result<Option<RequestRecord>, StoreError>> {
        let (scope, key) = (scope.to_owned(), key.to_owned());
        async move { Ok(self.nats.request_record(&scope, &key).await?) }.boxed()
    }
}

impl CommittedState for Nats {
    fn state_get(&self, plugin: &str, tenant: &str, key: &str) -> StateRead {
        weir_core::failpoint::state_read(|| self.state_get_blocking(plugin, tenant, key))
    }
}
