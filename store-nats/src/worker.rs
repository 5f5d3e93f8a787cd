//! Dispatch on NATS: each node pulls a plugin's deliveries from durable
//! consumers that every node shares: one for deliveries without an ordering
//! key, and one per key partition that hands out one delivery at a time, so
//! a key's deliveries run in the order published, whichever node runs them.
//! A consumer's ack wait is the lease: a delivery its node does not finish in
//! time (the node stopped, say) is handed to another node. Each pulled
//! delivery runs through the delivery engine (`weir_core::deliver`;
//! `pulled.rs` is this store's side of it).

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use futures_util::TryStreamExt;
use futures_util::future::join_all;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use weir_core::deliver::{Engine, deliver};
use weir_core::trace_context;

use super::ingest::GENERATION_HEADER;
use super::names::{self, Names};
use super::pulled::Pulled;
use super::{Nats, NatsError};
use weir_core::Shared;
use weir_core::metrics::plugin as plugin_label;
use weir_core::plugins::Plugin;
use weir_core::schedule::lease_ms;
use weir_event::codec;
use weir_runtime::Version;

/// How long one pull waits for a delivery before asking again.
const POLL: Duration = Duration::from_secs(1);

/// How long a worker waits after JetStream refused a pull or a consumer.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// What every pull loop of one plugin shares.
pub(super) struct Puller {
    pub(super) shared: Shared,
    pub(super) nats: Arc<Nats>,
    plugin: Arc<Plugin>,
    stop: CancellationToken,
    deliveries: TaskTracker,
    /// The consumers' ack wait: how long a pulled delivery is this node's.
    pub(super) ack_wait: Duration,
}

/// Pulls and runs `plugin`'s deliveries until `stop` is cancelled; each runs
/// as a task on `deliveries`, so shutdown can wait for the ones in flight.
pub async fn serve_plugin(
    shared: Shared,
    nats: Arc<Nats>,
    plugin: Arc<Plugin>,
    stop: CancellationToken,
    deliveries: TaskTracker,
) {
    // The lease of the fjall backend, sized for the longest deadline.
    let ack_wait = Duration::from_millis(lease_ms(
        &shared.config,
        &shared.routes.current(),
        &plugin.name,
        &plugin.current().limits,
    ));
    let puller = Arc::new(Puller {
        shared,
        nats,
        plugin,
        stop,
        deliveries,
        ack_wait,
    });
    let partitions = std::iter::once(None).chain((0..names::PARTITIONS).map(Some));
    join_all(partitions.map(|partition| puller.clone().pull_loop(partition))).await;
}

impl Puller {
    /// Pulls from one consumer: a delivery, then a free slot for it.
    async fn pull_loop(self: Arc<Self>, partition: Option<u32>) {
        let Some(consumer) = self.consumer(partition).await else {
            return;
        };
        let mut gate = self.plugin.gate.subscribe();
        loop {
            // Nothing is pulled while the plugin is paused or removed.
            tokio::select! {
                _ = self.stop.cancelled() => return,
                opened = gate.wait_for(|gate| gate.open()) => if opened.is_err() { return },
            }
            // As many as there are free slots, one at the least: JetStream
            // starts their ack waits at once.
            let wanted = self.plugin.slots.available_permits().max(1);
            let pulled = tokio::select! {
                _ = self.stop.cancelled() => return,
                pulled = pull(&consumer, wanted) => pulled,
            };
            let mut batch = match pulled {
                Ok(batch) => batch,
                Err(error) => {
                    self.pull_failed(error).await;
                    continue;
                }
            };
            loop {
                let next = tokio::select! {
                    _ = self.stop.cancelled() => return,
                    next = batch.try_next() => next,
                };
                let message = match next {
                    Ok(Some(message)) => message,
                    Ok(None) => break,
                    Err(error) => {
                        self.pull_failed(NatsError::request("pull", error)).await;
                        break;
                    }
                };
                let Some(permit) = self.slot_for(&message, &mut gate).await else {
                    // Stopping: hand the delivery back at once rather than after its ack wait.
                    let _ = message.ack_with(AckKind::Nak(None)).await;
                    return;
                };
                let task = run_delivery(self.clone(), message, partition.is_some());
                self.deliveries.spawn(async move {
                    task.await;
                    drop(permit);
                });
            }
        }
    }

    /// Logs a refused pull and pauses before the next (unless weir stops).
    async fn pull_failed(&self, error: NatsError) {
        tracing::error!(plugin = %self.plugin.name, %error, "cannot pull deliveries");
        tokio::select! {
            _ = self.stop.cancelled() => {}
            _ = tokio::time::sleep(ERROR_PAUSE) => {}
        }
    }

    /// The consumer of `partition` (or of unkeyed deliveries), created or
    /// brought up to date; retried until it exists or weir stops.
    async fn consumer(&self, partition: Option<u32>) -> Option<PullConsumer> {
        let names = &self.nats.names;
        let name = Names::consumer(&self.plugin.name, partition);
        let config = pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: names.delivery_subject(&self.plugin.name, partition),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            // Attempts are counted by weir, which dead-letters past max_attempts.
            max_deliver: -1,
            // A partition hands out its next delivery once the last is acked.
            max_ack_pending: if partition.is_some() { 1 } else { -1 },
            ..Default::default()
        };
        loop {
            match self.nats.deliveries.create_consumer(config.clone()).await {
                Ok(consumer) => return Some(consumer),
                Err(error) => {
                    let stream = names.deliveries_stream();
                    tracing::error!(plugin = %self.plugin.name, %error, "cannot set up consumer {name} on {stream}");
                }
            }
            tokio::select! {
                _ = self.stop.cancelled() => return None,
                _ = tokio::time::sleep(ERROR_PAUSE) => {}
            }
        }
    }

    /// Waits for a free instance slot for `message`, telling JetStream the
    /// delivery is still in hand meanwhile; `None` once weir stops.
    async fn slot_for(
        &self,
        message: &Message,
        gate: &mut tokio::sync::watch::Receiver<weir_core::plugins::Gate>,
    ) -> Option<OwnedSemaphorePermit> {
        let free_slot = self.plugin.free_slot(gate, &self.stop);
        tokio::pin!(free_slot);
        loop {
            tokio::select! {
                permit = &mut free_slot => return permit,
                _ = tokio::time::sleep(self.ack_wait / 2) => {
                    if let Err(error) = message.ack_with(AckKind::Progress).await {
                        tracing::warn!(plugin = %self.plugin.name, %error, "cannot extend a waiting delivery's ack wait");
                    }
                }
            }
        }
    }
}

/// Asks for up to `count` deliveries; the batch ends with them, or after [`POLL`].
async fn pull(consumer: &PullConsumer, count: usize) -> Result<pull::Batch, NatsError> {
    consumer
        .batch()
        .max_messages(count)
        .expires(POLL)
        .messages()
        .await
        .map_err(|e| NatsError::request("pull", e))
}

async fn run_delivery(puller: Arc<Puller>, message: Message, ordered: bool) {
    let plugin = &puller.plugin;
    let shared = &puller.shared;
    let busy = shared
        .metrics
        .instances_busy
        .get_or_create(&plugin_label(&plugin.name))
        .clone();
    busy.inc();
    let (sequence, attempt) = message.info().map_or((0, 1), |info| {
        let delivered = u32::try_from(info.delivered).unwrap_or(u32::MAX);
        (info.stream_sequence, delivered)
    });
    let version = plugin.current();
    let span = tracing::info_span!("delivery", plugin = %plugin.name, version = %version.id, attempt, event_id = tracing::field::Empty);
    match codec::decode(&message.payload) {
        Ok(event) => {
            span.record("event_id", event.id.as_str());
            trace_context::adopt_from_event(&span, &event);
            let pulled = Pulled {
                generation: generation(&message),
                message,
                event,
                plugin: plugin.name.clone(),
                sequence,
                attempt,
                ordered,
            };
            hold_or_deliver(&puller, pulled, &version)
                .instrument(span)
                .await;
        }
        Err(error) => {
            let _entered = span.enter();
            tracing::error!(%error, "a delivery on the stream is unreadable; it is dropped");
            if let Err(error) = message.ack_with(AckKind::Term).await {
                tracing::error!(%error, "cannot drop the unreadable delivery");
            }
        }
    }
    busy.dec();
    plugin.slot_freed.notify_one();
}

/// Holds `pulled` if its tenant is paused; runs it through the engine otherwise.
async fn hold_or_deliver(puller: &Puller, pulled: Pulled, version: &Version) {
    let (plugin, shared) = (&puller.plugin, &puller.shared);
    match (puller.nats)
        .hold_if_paused(&shared.tenant_pauses, &pulled)
        .await
    {
        Ok(true) => {
            let tenant = &pulled.event.tenant;
            return tracing::info!(%tenant, "tenant paused: delivery held");
        }
        Ok(false) => {}
        Err(error) => {
            return tracing::error!(%error, "cannot hold a paused tenant's delivery; JetStream hands it out again after its ack wait");
        }
    }
    let engine = Engine {
        metrics: &shared.metrics,
        max_hops: shared.config.dispatch.max_hops,
    };
    let routes = shared.routes.current();
    if let Err(error) = deliver(&engine, puller, plugin, version, &routes, pulled).await {
        tracing::error!(%error, "cannot finish delivery; JetStream hands it out again (within a second if its commit was refused, else after its ack wait)");
    }
}

/// The generation of a pulled delivery: 0 unless a replay published it.
fn generation(message: &Message) -> u32 {
    (message.headers.as_ref())
        .and_then(|headers| headers.get(GENERATION_HEADER))
        .and_then(|value| value.as_str().parse().ok())
        .unwrap_or(0)
}
