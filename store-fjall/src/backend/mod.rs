//! The embedded backend: fjall on this node's disk, behind weir-core's
//! `Backend` seam. Ingest hands events to
//! the group committer; each plugin's worker leases from its dispatch lanes.

mod dead;
mod replay;

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::dispatch::FjallDeliveries;
use crate::event::Event;
use crate::group_commit::GroupCommitter;
use crate::pipeline::Pipeline;
use crate::plugins::Plugin;
use crate::queue::{
    DeadFilter, DeadLetter as StoredDeadLetter, PauseScope, RequestKey, RequestRecord, StoreError,
};
use crate::runtime::CommittedState;
use replay::FjallRequeue;
use weir_core::deliver::serve_plugin;
use weir_core::store::Admission;
use weir_core::store::{
    Backend, DeadLetter, DeadLetterPage, DeadListing, EventLetters, EventRef, ReplayLog, Revived,
    StateEntries, StatePage, StoredEvent, Unready,
};
use weir_core::tasks::Tasks;

/// The fjall backend of `pipeline`'s queue.
pub struct Fjall {
    pipeline: Arc<Pipeline>,
    /// The commit thread stops once this (and so the router holding it) is
    /// dropped.
    committer: GroupCommitter,
}

impl Fjall {
    /// The backend of `pipeline`'s queue, written through `committer`.
    pub fn new(pipeline: Arc<Pipeline>, committer: GroupCommitter) -> Fjall {
        Fjall {
            pipeline,
            committer,
        }
    }
}

impl Backend for Fjall {
    fn submit(
        &self,
        events: Vec<Event>,
        request_key: Option<RequestKey>,
    ) -> BoxFuture<'_, Result<Vec<Admission>, StoreError>> {
        async move { Ok(self.committer.submit(events, request_key).await?) }.boxed()
    }

    fn serve(&self, tasks: &Tasks, plugin: Arc<Plugin>) {
        let name = plugin.name.clone();
        let store = Arc::new(FjallDeliveries {
            pipeline: self.pipeline.clone(),
        });
        let shared = self.pipeline.shared();
        tasks
            .background
            .spawn(serve_plugin(shared, store, plugin, tasks.clone()));
        // Whatever waits for the plugin from an earlier run.
        match self.pipeline.queue.ready_lanes(&name) {
            Ok(found) => self.pipeline.lanes.discovered(&name, found),
            Err(error) => {
                tracing::error!(plugin = %name, %error, "cannot find the deliveries waiting for this plugin")
            }
        }
    }

    fn set_plugin_paused(
        &self,
        plugin: &str,
        paused: bool,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        let kept = self
            .pipeline
            .queue
            .set_paused(PauseScope::Plugin, plugin, paused);
        async move { Ok(kept?) }.boxed()
    }

    fn set_tenant_paused(
        &self,
        tenant: &str,
        paused: bool,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let pipeline = self.pipeline.clone();
        let tenant = tenant.to_owned();
        async move {
            // The flag goes first: see `dispatch::hold` for why that order
            // loses nothing.
            pipeline.tenant_pauses.set(&tenant, paused);
            pipeline
                .queue
                .set_paused(PauseScope::Tenant, &tenant, paused)?;
            if paused {
                return Ok(0);
            }
            let released = tokio::task::spawn_blocking(move || {
                (pipeline.queue).release_held(&tenant, |staging| pipeline.commit(staging))
            });
            let released = released.await.map_err(|_| {
                StoreError::Unavailable("releasing the held deliveries panicked".to_owned())
            })?;
            Ok(released?)
        }
        .boxed()
    }

    fn event(&self, event: EventRef) -> BoxFuture<'_, Result<StoredEvent, StoreError>> {
        let queue = &self.pipeline.queue;
        let read = || {
            let sequence = dead::resolve_id(queue, &event)?;
            let stored = queue.event(sequence)?;
            // Retention took it after the id was looked up.
            let gone = || StoreError::NotFound(format!("no event with id {:?}", event.id));
            let event = stored.ok_or_else(gone)?;
            let deliveries = queue.deliveries_of(sequence)?;
            Ok(StoredEvent {
                sequence,
                event,
                deliveries,
            })
        };
        let found = read();
        async move { found }.boxed()
    }

    fn state_entries(&self, page: StatePage) -> BoxFuture<'_, Result<StateEntries, StoreError>> {
        let queue = &self.pipeline.queue;
        let entries = queue.state_entries(
            &page.plugin,
            &page.tenant,
            page.after.as_deref(),
            page.limit,
        );
        async move { Ok(entries?) }.boxed()
    }

    fn dead_letters(&self, page: DeadLetterPage) -> BoxFuture<'_, Result<DeadListing, StoreError>> {
        let cursor = page.cursor.as_deref();
        let found = self
            .pipeline
            .queue
            .dead_letters(&page.filter, cursor, page.limit);
        let listing = found.map(|found| DeadListing {
            letters: found.letters.iter().map(view).collect(),
            next: found.next,
        });
        async move { Ok(listing?) }.boxed()
    }

    fn newest_dead_letters(
        &self,
        limit: usize,
    ) -> BoxFuture<'_, Result<Vec<DeadLetter>, StoreError>> {
        let found = self.pipeline.queue.newest_dead_letters(limit);
        async move { Ok(found?.iter().map(view).collect()) }.boxed()
    }

    fn revive_event(
        &self,
        letters: EventLetters,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        let revived = dead::revive_event(&self.pipeline, &letters);
        async move { revived }.boxed()
    }

    fn discard_event(
        &self,
        letters: EventLetters,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        let discarded = dead::discard_event(&self.pipeline, &letters);
        async move { discarded }.boxed()
    }

    fn revive_matching(
        &self,
        filter: DeadFilter,
        limit: usize,
    ) -> BoxFuture<'_, Result<Revived, StoreError>> {
        let revived = dead::revive_matching(&self.pipeline, &filter, limit);
        async move { revived }.boxed()
    }

    fn replay_log(&self, _plugin: &str) -> BoxFuture<'_, Result<ReplayLog, StoreError>> {
        let queue = &self.pipeline.queue;
        let bounds = queue
            .horizon()
            .and_then(|oldest| Ok((oldest, queue.last_seq()?)));
        async move {
            let (oldest, newest) = bounds?;
            let pipeline = self.pipeline.clone();
            Ok(ReplayLog {
                oldest,
                newest,
                queue: Box::new(FjallRequeue { pipeline }),
            })
        }
        .boxed()
    }

    fn node(&self) -> Option<&str> {
        None
    }

    fn unready(&self) -> Option<Unready> {
        if self.pipeline.disk_full() {
            Some(Unready::DiskFull)
        } else if !self.pipeline.storage_ok() {
            Some(Unready::StorageFailed)
        } else {
            None
        }
    }

    fn request_record(
        &self,
        scope: &str,
        key: &str,
    ) -> BoxFuture<'_, Result<Option<RequestRecord>, StoreError>> {
        let record = self.pipeline.queue.request_record(scope, key);
        async move { Ok(record?) }.boxed()
    }
}

impl CommittedState for Pipeline {
    fn state_get(&self, plugin: &str, tenant: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.queue
            .state_get(plugin, tenant, key)
            .map_err(|e| e.to_string())
    }
}

/// A dead letter of the embedded store as every store reports it.
fn view(letter: &StoredDeadLetter) -> DeadLetter {
    let event = &letter.event;
    DeadLetter {
        id: event.id.clone(),
        plugin: Some(letter.record.plugin.clone()),
        tenant: event.tenant.clone(),
        kind: event.kind.clone(),
        source: event.source.clone(),
        attempts: Some(u64::from(letter.record.attempts)),
        error: letter.record.error.clone(),
        sequence: Some(letter.seq),
        replays: Some(letter.record.replays),
        history: Some(letter.record.history.clone()),
        generation: None,
        reason: None,
        node: None,
        dead_at: None,
    }
}
