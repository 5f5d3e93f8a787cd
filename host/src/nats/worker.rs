//! Dispatch on NATS: each node pulls a plugin's deliveries from durable
//! consumers that every node shares: one for deliveries without an ordering
//! key, and one per key partition that hands out one delivery at a time, so
//! a key's deliveries run in the order published, whichever node runs them.
//! A consumer's ack wait is the lease: a delivery its node does not finish in
//! time (the node stopped, say) is handed to another node.

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

use super::commit::{Committed, Record};
use super::ingest::GENERATION_HEADER;
use super::names::{self, DeliveryId, Names};
use super::{Nats, NatsError};
use crate::config::PluginLimits;
use crate::dispatch::lease_ms;
use crate::event::{Event, now_ms};
use crate::metrics::plugin as plugin_label;
use crate::pipeline::Pipeline;
use crate::plugins::Plugin;
use crate::queue::codec;
use crate::route::RouteTable;
use crate::runtime::{Attempt, Outcome, Version};
use crate::schedule::retry_delay;
use crate::telemetry::trace_context;

/// How long one pull waits for a delivery before asking again.
const POLL: Duration = Duration::from_secs(1);

/// How long a worker waits after JetStream refused a pull or a consumer.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// How often a delivery reruns at once when the state it read changed under it,
/// before it backs off like any other retry.
const MAX_CONFLICT_RERUNS: u32 = 8;

/// What every pull loop of one plugin shares.
struct Puller {
    pipeline: Arc<Pipeline>,
    nats: Arc<Nats>,
    plugin: Arc<Plugin>,
    stop: CancellationToken,
    deliveries: TaskTracker,
    /// The consumers' ack wait: how long a pulled delivery is this node's.
    ack_wait: Duration,
}

/// Pulls and runs `plugin`'s deliveries until `stop` is cancelled; each runs
/// as a task on `deliveries`, so shutdown can wait for the ones in flight.
pub async fn serve_plugin(
    pipeline: Arc<Pipeline>,
    nats: Arc<Nats>,
    plugin: Arc<Plugin>,
    stop: CancellationToken,
    deliveries: TaskTracker,
) {
    // The lease of the fjall backend, sized for the longest deadline.
    let ack_wait = Duration::from_millis(lease_ms(
        &pipeline,
        &pipeline.routes(),
        &plugin.name,
        &plugin.current().limits,
    ));
    let puller = Arc::new(Puller {
        pipeline,
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
        gate: &mut tokio::sync::watch::Receiver<crate::plugins::Gate>,
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
    let busy = puller
        .pipeline
        .metrics
        .instances_busy
        .get_or_create(&plugin_label(&plugin.name))
        .clone();
    busy.inc();
    let attempt = message
        .info()
        .map_or(1, |info| u32::try_from(info.delivered).unwrap_or(u32::MAX));
    let version = plugin.current();
    let span = tracing::info_span!("delivery", plugin = %plugin.name, version = %version.id, attempt, event_id = tracing::field::Empty);
    match codec::decode(&message.payload) {
        Ok(event) => {
            span.record("event_id", event.id.as_str());
            trace_context::adopt_from_event(&span, &event);
            let mut delivery = Delivery {
                puller: &puller,
                message: &message,
                id: DeliveryId {
                    plugin: &plugin.name,
                    event: &event,
                    generation: generation(&message),
                },
                attempt,
                ordered,
            };
            if let Err(error) = delivery.handle(&version).instrument(span.clone()).await {
                let _entered = span.enter();
                tracing::error!(%error, "cannot finish delivery; JetStream hands it out again after its ack wait");
            }
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

/// The generation of a pulled delivery: 0 unless a replay published it.
fn generation(message: &Message) -> u32 {
    (message.headers.as_ref())
        .and_then(|headers| headers.get(GENERATION_HEADER))
        .and_then(|value| value.as_str().parse().ok())
        .unwrap_or(0)
}

/// One pulled delivery being run.
struct Delivery<'a> {
    puller: &'a Puller,
    message: &'a Message,
    id: DeliveryId<'a>,
    /// This attempt's number (1 for the first): JetStream's count of
    /// deliveries, plus the retries run in place.
    attempt: u32,
    /// Whether it holds its ordering key's partition: then a retry waits in
    /// place, since the partition hands out nothing else until it is acked.
    ordered: bool,
}

/// How an attempt ended.
enum Step {
    /// The delivery is committed, dead, or handed back to JetStream.
    Settled,
    /// Run it again here after this backoff (an ordered delivery).
    RetryAfter(Duration),
}

impl Delivery<'_> {
    async fn handle(&mut self, version: &Version) -> Result<(), NatsError> {
        let (pipeline, nats, plugin) = (
            &self.puller.pipeline,
            &self.puller.nats,
            &self.puller.plugin,
        );
        let routes = pipeline.routes();
        // Only an earlier attempt can have committed: the first skips the lookup.
        if self.attempt > 1
            && let Some(record) = nats.committed(&self.id).await?
        {
            tracing::info!(node = %record.node, "effects already committed; not running again");
            return self.finished(&routes, &record.children()?).await;
        }
        // The plugin's limits, with what the delivery's route overrides.
        let limits = routes.route_to(self.id.event, &plugin.name).map_or_else(
            || version.limits.clone(),
            |(_, options)| options.apply(&version.limits),
        );
        if self.attempt > limits.max_attempts {
            let message = format!(
                "gave up after {} attempts; the last ended without an outcome (its node stopped, or it outlived the ack wait)",
                self.attempt - 1
            );
            return self.bury("lost", message).await.map(|_| ());
        }
        loop {
            match self.run_attempt(version, &routes, &limits).await? {
                Step::Settled => return Ok(()),
                Step::RetryAfter(delay) => {
                    self.hold(delay).await?;
                    self.attempt += 1;
                }
            }
        }
    }

    /// Runs one attempt (again at once while the state it read changes under
    /// it) and commits, retries or buries it.
    async fn run_attempt(
        &self,
        version: &Version,
        routes: &RouteTable,
        limits: &PluginLimits,
    ) -> Result<Step, NatsError> {
        let (pipeline, nats, plugin) = (
            &self.puller.pipeline,
            &self.puller.nats,
            &self.puller.plugin,
        );
        let label = plugin_label(&plugin.name);
        let metrics = &pipeline.metrics;
        for _ in 0..MAX_CONFLICT_RERUNS {
            let attempt = Attempt {
                event: self.id.event,
                number: self.attempt,
                generation: self.id.generation,
                limits,
            };
            let execute = tracing::info_span!("execute", attempt = self.attempt);
            let execution = version.run(nats.clone(), attempt).instrument(execute).await;
            metrics.handler_ran(&label, &execution);
            let (outcome, emitted) = match execution.result {
                Ok(Outcome::Ack) => ("ack", Vec::new()),
                Ok(Outcome::Emit(emitted)) => ("emit", emitted),
                Ok(Outcome::Fail(reason)) => {
                    metrics.delivery_failed(&plugin.name, "fail");
                    return self.bury("fail", reason).await;
                }
                Ok(Outcome::RetryLater(ms)) => {
                    let message = format!("handler asked to retry after {ms} ms");
                    return self
                        .retry_or_bury(limits, "retry_later", message, Some(u64::from(ms)))
                        .await;
                }
                Err(failure) => {
                    tracing::warn!(reason = failure.kind.as_str(), message = %failure.message, "attempt failed");
                    return self
                        .retry_or_bury(limits, failure.kind.as_str(), failure.message, None)
                        .await;
                }
            };
            let children = match crate::commit::build_emitted(
                pipeline,
                self.id.event,
                &plugin.name,
                emitted,
            ) {
                Ok(children) => children,
                Err(message) => {
                    metrics.delivery_failed(&plugin.name, "invalid_output");
                    return self.bury("invalid_output", message).await;
                }
            };
            let record = Record {
                outcome: outcome.to_owned(),
                node: nats.node().to_owned(),
                attempt: self.attempt,
                committed_at_ms: now_ms(),
                state_writes: execution.effects.state_writes.len(),
                children: Record::encode_children(&children),
            };
            let committed = nats.commit(&self.id, &execution.effects, &record).await?;
            match committed {
                Committed::Now => {
                    self.finished(routes, &children).await?;
                    let latency = record
                        .committed_at_ms
                        .saturating_sub(self.id.event.ingested_at_ms);
                    metrics.delivery_processed(&plugin.name, Duration::from_millis(latency));
                    return Ok(Step::Settled);
                }
                Committed::Before(record) => {
                    tracing::info!(node = %record.node, "another attempt committed this delivery first; its result stands");
                    self.finished(routes, &record.children()?).await?;
                    return Ok(Step::Settled);
                }
                Committed::Conflict => {
                    metrics.state_conflicts.get_or_create(&label).inc();
                }
            }
        }
        tracing::warn!("state kept changing under this delivery; retrying it later");
        let message = "state it read kept changing before it could commit".to_owned();
        self.retry_or_bury(limits, "state_conflict", message, None)
            .await
    }

    /// Publishes what the committed attempt emitted (again, if a node that
    /// committed stopped before it could: the message ids keep one copy),
    /// then takes the delivery off the stream.
    async fn finished(&self, routes: &RouteTable, children: &[Event]) -> Result<(), NatsError> {
        self.puller.nats.submit(routes, children).await?;
        self.ack().await
    }

    /// Retries the delivery after a backoff (never sooner than `hint_ms`),
    /// or dead-letters it after its last attempt. An unordered delivery goes
    /// back to JetStream (`nak`) for any node to run; an ordered one waits here.
    async fn retry_or_bury(
        &self,
        limits: &PluginLimits,
        reason: &str,
        message: String,
        hint_ms: Option<u64>,
    ) -> Result<Step, NatsError> {
        let (pipeline, plugin) = (&self.puller.pipeline, &self.puller.plugin);
        pipeline.metrics.delivery_failed(&plugin.name, reason);
        if self.attempt >= limits.max_attempts {
            let message = format!(
                "gave up after {} attempts; last: {reason}: {message}",
                self.attempt
            );
            return self.bury(reason, message).await;
        }
        let delay = retry_delay(limits, self.attempt, hint_ms);
        pipeline.metrics.delivery_retried(&plugin.name);
        if self.ordered {
            return Ok(Step::RetryAfter(delay));
        }
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| NatsError::request("nak", e))?;
        Ok(Step::Settled)
    }

    /// Waits `delay` before an ordered delivery's next attempt, keeping it
    /// this node's meanwhile.
    async fn hold(&self, delay: Duration) -> Result<(), NatsError> {
        let until = tokio::time::Instant::now() + delay;
        let extend = self.puller.ack_wait / 2;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep_until(until.min(tokio::time::Instant::now() + extend)).await;
            self.message
                .ack_with(AckKind::Progress)
                .await
                .map_err(|e| NatsError::request("extend the ack wait", e))?;
        }
        Ok(())
    }

    /// Moves the delivery to the dead-letter stream.
    async fn bury(&self, reason: &str, message: String) -> Result<Step, NatsError> {
        let (pipeline, nats, plugin) = (
            &self.puller.pipeline,
            &self.puller.nats,
            &self.puller.plugin,
        );
        nats.dead_letter(&self.id, self.attempt, reason, &message)
            .await?;
        self.ack().await?;
        tracing::warn!(reason, %message, "delivery is dead");
        pipeline.metrics.delivery_dead(&plugin.name);
        Ok(Step::Settled)
    }

    /// Acknowledges the delivery. An ack that is lost only hands it out
    /// again, and its commit record or dead letter keeps that from counting twice.
    async fn ack(&self) -> Result<(), NatsError> {
        self.message
            .ack()
            .await
            .map_err(|e| NatsError::request("ack", e))
    }
}
