//! The embedded backend: fjall on this node's disk, behind weir-core's
//! `Backend` seam. Ingest hands events to
//! the group committer; each plugin's worker leases from its dispatch lanes.

mod dead;
mod replay;

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::dispatch::FjallDeliveries;
use crate::embedded::Embedded;
use crate::failpoint;
use crate::group_commit::GroupCommitter;
use crate::plugins::Plugin;
use crate::queue::{
    DeadFilter, DeadLetter as StoredDeadLetter, PauseScope, RequestRecord, StoreError,
};
use replay::FjallRequeue;
use weir_core::deliver::serve_plugin;
use weir_core::store::{
    Append, Appended, Backend, DeadLetter, DeadLetterPage, DeadListing, EventLetters, EventRef,
    ReplayLog, Revived, StateEntries, StatePage, StoredEvent, Unready,
};
use weir_core::tasks::Tasks;

/// The fjall backend of `embedded`'s queue.
pub struct Fjall {
    embedded: Arc<Embedded>,
    /// The commit thread stops once this (and so the router holding it) is
    /// dropped.
    committer: GroupCommitter,
}

impl Fjall {
    /// The backend of `embedded`'s queue, written through `committer`.
    pub fn new(embedded: Arc<Embedded>, committer: GroupCommitter) -> Fjall {
        Fjall {
            embedded,
            committer,
        }
    }
}

impl Backend for Fjall {
    fn append(&self, round: Vec<Append>) -> BoxFuture<'_, Vec<Appended>> {
        async move {
            let answers = self.committer.append(round).await;
            (answers.into_iter())
                .map(|answer| answer.map_err(StoreError::from))
                .collect()
        }
        .boxed()
    }

    fn serve(&self, tasks: &Tasks, plugin: Arc<Plugin>) {
        let name = plugin.name.clone();
        let store = Arc::new(FjallDeliveries {
            embedded: self.embedded.clone(),
        });
        let shared = self.embedded.shared.clone();
        tasks
            .background
            .spawn(serve_plugin(shared, store, plugin, tasks.clone()));
        // Whatever waits for the plugin from an earlier run.
        match self.embedded.queue.ready_lanes(&name) {
            Ok(found) => self.embedded.shared.lanes.discovered(&name, found),
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
            .embedded
            .queue
            .set_paused(PauseScope::Plugin, plugin, paused);
        async move { Ok(kept?) }.boxed()
    }

    fn set_tenant_paused(
        &self,
        tenant: &str,
        paused: bool,
    ) -> BoxFuture<'_, Result<u64, StoreError>> {
        let embedded = self.embedded.clone();
        let tenant = tenant.to_owned();
        async move {
            // The flag goes first: see `dispatch::hold` for why that order
            // loses nothing.
            embedded.shared.tenant_pauses.set(&tenant, paused);
            embedded
                .queue
                .set_paused(PauseScope::Tenant, &tenant, paused)?;
            if paused {
                return Ok(0);
            }
            // Should weir stop here, the next start releases them.
            if let Some(error) = failpoint::pass(failpoint::Point::TenantResume) {
                return Err(StoreError::WriteFailed(error.to_string()));
            }
            let released = tokio::task::spawn_blocking(move || {
                (embedded.queue).release_held(&tenant, |staging| embedded.commit(staging))
            });
            let released = released.await.map_err(|_| {
                StoreError::Unavailable("releasing the held deliveries panicked".to_owned())
            })?;
            Ok(released?)
        }
        .boxed()
    }

    fn event(&self, event: EventRef) -> BoxFuture<'_, Result<StoredEvent, StoreError>> {
        let queue = &self.embedded.queue;
        let read = || {
            let sequence = dead::resolve_id(queue, &event)?;
            let stored = queue.event_with_deliveries(sequence)?;
            // Retention took it after the id was looked up.
            let gone = || StoreError::NotFound(format!("no event with id {:?}", event.id));
            let (event, deliveries) = stored.ok_or_else(gone)?;
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
        let queue = &self.embedded.queue;
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
            .embedded
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
        let found = self.embedded.queue.newest_dead_letters(limit);
        async move { Ok(found?.iter().map(view).collect()) }.boxed()
    }

    fn revive_event(
        &self,
        letters: EventLetters,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        let revived = dead::revive_event(&self.embedded, &letters);
        async move { revived }.boxed()
    }

    fn discard_event(
        &self,
        letters: EventLetters,
    ) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        let discarded = dead::discard_event(&self.embedded, &letters);
        async move { discarded }.boxed()
    }

    fn revive_matching(
        &self,
        filter: DeadFilter,
        limit: usize,
    ) -> BoxFuture<'_, Result<Revived, StoreError>> {
        let revived = dead::revive_matching(&self.embedded, &filter, limit);
        async move { revived }.boxed()
    }

    fn replay_log(&self, _plugin: &str) -> BoxFuture<'_, Result<ReplayLog, StoreError>> {
        let queue = &self.embedded.queue;
        let bounds = queue
            .horizon()
            .and_then(|oldest| Ok((oldest, queue.last_seq()?)));
        async move {
            let (oldest, newest) = bounds?;
            let embedded = self.embedded.clone();
            Ok(ReplayLog {
                oldest,
                newest,
                queue: Box::new(FjallRequeue { embedded }),
            })
        }
        .boxed()
    }

    fn node(&self) -> Option<&str> {
        None
    }

    fn unready(&self) -> Option<Unready> {
        if self.embedded.disk_full() {
            Some(Unready::DiskFull)
        } else if !self.embedded.storage_ok() {
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
        let record = self.embedded.queue.request_record(scope, key);
        async move { Ok(record?) }.boxed()
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
