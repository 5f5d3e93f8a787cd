//! Dispatch on NATS: each node pulls a plugin's deliveries from one durable
//! consumer that every node shares, one message per free instance slot. The
//! consumer's ack wait is the lease: a delivery its node does not finish in
//! time (the node stopped, say) is handed to another node.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, PullConsumer, pull};
use async_nats::jetstream::{AckKind, Message};
use futures_util::TryStreamExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::commit::{Committed, Record};
use super::{Nats, NatsError};
use crate::config::PluginLimits;
use crate::dispatch::{lease_ms, retry_delay};
use crate::event::{Event, now_ms};
use crate::metrics::plugin as plugin_label;
use crate::pipeline::Pipeline;
use crate::queue::codec;
use crate::route::RouteTable;
use crate::runtime::{Attempt, Outcome, Plugin, Version};
use crate::telemetry::trace_context;

/// How long one pull waits for a delivery before asking again.
const POLL: Duration = Duration::from_secs(1);

/// How long a worker waits after JetStream refused a pull or a consumer.
const ERROR_PAUSE: Duration = Duration::from_secs(1);

/// How often a delivery reruns at once when the state it read changed under it,
/// before it backs off like any other retry.
const MAX_CONFLICT_RERUNS: u32 = 8;

/// Pulls and runs `plugin`'s deliveries until `stop` is cancelled; each runs
/// as a task on `deliveries`, so shutdown can wait for the ones in flight.
pub async fn serve_plugin(
    pipeline: Arc<Pipeline>,
    nats: Arc<Nats>,
    plugin: Arc<Plugin>,
    stop: CancellationToken,
    deliveries: TaskTracker,
) {
    let consumer = loop {
        match consumer(&pipeline, &nats, &plugin).await {
            Ok(consumer) => break consumer,
            Err(error) => {
                tracing::error!(plugin = %plugin.name, %error, "cannot set up this plugin's consumer");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(ERROR_PAUSE) => {}
                }
            }
        }
    };
    let mut gate = plugin.gate.subscribe();
    loop {
        let Some(permit) = plugin.free_slot(&mut gate, &stop).await else {
            return;
        };
        let pulled = tokio::select! {
            _ = stop.cancelled() => return,
            pulled = pull_one(&consumer) => pulled,
        };
        match pulled {
            Ok(Some(message)) => {
                let task = run_delivery(pipeline.clone(), nats.clone(), plugin.clone(), message);
                deliveries.spawn(async move {
                    task.await;
                    drop(permit);
                });
            }
            Ok(None) => drop(permit),
            Err(error) => {
                drop(permit);
                tracing::error!(plugin = %plugin.name, %error, "cannot pull deliveries");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(ERROR_PAUSE) => {}
                }
            }
        }
    }
}

/// The plugin's durable consumer, created or brought up to date: its ack
/// wait is the lease of the fjall backend, sized for the longest deadline.
async fn consumer(
    pipeline: &Pipeline,
    nats: &Nats,
    plugin: &Plugin,
) -> Result<PullConsumer, NatsError> {
    let version = plugin.current();
    let ack_wait = Duration::from_millis(lease_ms(
        pipeline,
        &pipeline.routes(),
        &plugin.name,
        &version.limits,
    ));
    nats.deliveries
        .create_consumer(pull::Config {
            durable_name: Some(plugin.name.to_string()),
            filter_subject: nats.names.deliveries_subject(&plugin.name),
            ack_policy: AckPolicy::Explicit,
            ack_wait,
            // Attempts are counted by weir, which dead-letters past max_attempts.
            max_deliver: -1,
            ..Default::default()
        })
        .await
        .map_err(|e| NatsError::Setup {
            what: format!(
                "consumer {} on {}",
                plugin.name,
                nats.names.deliveries_stream()
            ),
            message: e.to_string(),
        })
}

/// One delivery, or none if none arrived within [`POLL`].
async fn pull_one(consumer: &PullConsumer) -> Result<Option<Message>, NatsError> {
    let pull = |e: &dyn std::fmt::Display| NatsError::request("pull")(e.to_string());
    let mut batch = consumer
        .batch()
        .max_messages(1)
        .expires(POLL)
        .messages()
        .await
        .map_err(|e| pull(&e))?;
    batch.try_next().await.map_err(|e| pull(&*e))
}

async fn run_delivery(
    pipeline: Arc<Pipeline>,
    nats: Arc<Nats>,
    plugin: Arc<Plugin>,
    message: Message,
) {
    let busy = pipeline
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
            let delivery = Delivery {
                pipeline: &pipeline,
                nats: &nats,
                plugin: &plugin,
                message: &message,
                event: &event,
                attempt,
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

/// One pulled delivery being run.
struct Delivery<'a> {
    pipeline: &'a Arc<Pipeline>,
    nats: &'a Nats,
    plugin: &'a Plugin,
    message: &'a Message,
    event: &'a Event,
    /// This attempt's number, counted by JetStream (1 for the first).
    attempt: u32,
}

impl Delivery<'_> {
    async fn handle(&self, version: &Version) -> Result<(), NatsError> {
        let routes = self.pipeline.routes();
        if let Some(record) = self.nats.committed(&self.plugin.name, self.event).await? {
            tracing::info!(node = %record.node, "effects already committed; not running again");
            return self.finished(&routes, &record.children()?).await;
        }
        // The plugin's limits, with what the delivery's route overrides.
        let limits = routes.route_to(self.event, &self.plugin.name).map_or_else(
            || version.limits.clone(),
            |(_, options)| options.apply(&version.limits),
        );
        if self.attempt > limits.max_attempts {
            let message = format!(
                "gave up after {} attempts; the last ended without an outcome (its node stopped, or it outlived the ack wait)",
                self.attempt - 1
            );
            return self.bury("lost", message).await;
        }
        let label = plugin_label(&self.plugin.name);
        let metrics = &self.pipeline.metrics;
        for _ in 0..MAX_CONFLICT_RERUNS {
            let attempt = Attempt {
                event: self.event,
                number: self.attempt,
                generation: 0,
                limits: &limits,
            };
            let execute = tracing::info_span!("execute", attempt = self.attempt);
            let execution = version
                .run(self.pipeline.clone(), attempt)
                .instrument(execute)
                .await;
            metrics.handler_ran(&label, &execution);
            let (outcome, emitted) = match execution.result {
                Ok(Outcome::Ack) => ("ack", Vec::new()),
                Ok(Outcome::Emit(emitted)) => ("emit", emitted),
                Ok(Outcome::Fail(reason)) => {
                    metrics.delivery_failed(&self.plugin.name, "fail");
                    return self.bury("fail", reason).await;
                }
                Ok(Outcome::RetryLater(ms)) => {
                    let message = format!("handler asked to retry after {ms} ms");
                    return self
                        .retry_or_bury(&limits, "retry_later", message, Some(u64::from(ms)))
                        .await;
                }
                Err(failure) => {
                    tracing::warn!(reason = failure.kind.as_str(), message = %failure.message, "attempt failed");
                    return self
                        .retry_or_bury(&limits, failure.kind.as_str(), failure.message, None)
                        .await;
                }
            };
            let children = match crate::commit::build_emitted(
                self.pipeline,
                self.event,
                &self.plugin.name,
                emitted,
            ) {
                Ok(children) => children,
                Err(message) => {
                    metrics.delivery_failed(&self.plugin.name, "invalid_output");
                    return self.bury("invalid_output", message).await;
                }
            };
            let record = Record {
                outcome: outcome.to_owned(),
                node: self.nats.node().to_owned(),
                attempt: self.attempt,
                committed_at_ms: now_ms(),
                state_writes: execution.effects.state_writes.len(),
                children: Record::encode_children(&children),
            };
            let committed = self
                .nats
                .commit(&self.plugin.name, self.event, &execution.effects, &record)
                .await?;
            match committed {
                Committed::Now => {
                    self.finished(&routes, &children).await?;
                    let latency = record
                        .committed_at_ms
                        .saturating_sub(self.event.ingested_at_ms);
                    metrics.delivery_processed(&self.plugin.name, Duration::from_millis(latency));
                    return Ok(());
                }
                Committed::Before(record) => {
                    tracing::info!(node = %record.node, "another attempt committed this delivery first; its result stands");
                    return self.finished(&routes, &record.children()?).await;
                }
                Committed::Conflict => {
                    metrics.state_conflicts.get_or_create(&label).inc();
                }
            }
        }
        tracing::warn!("state kept changing under this delivery; retrying it later");
        let message = "state it read kept changing before it could commit".to_owned();
        self.retry_or_bury(&limits, "state_conflict", message, None)
            .await
    }

    /// Publishes what the committed attempt emitted (again, if a node that
    /// committed stopped before it could: the message ids keep one copy),
    /// then takes the delivery off the stream.
    async fn finished(&self, routes: &RouteTable, children: &[Event]) -> Result<(), NatsError> {
        self.nats.submit(routes, children).await?;
        self.ack().await
    }

    /// Hands the delivery back for another attempt after a backoff (never
    /// sooner than `hint_ms`), or dead-letters it after its last attempt.
    async fn retry_or_bury(
        &self,
        limits: &PluginLimits,
        reason: &str,
        message: String,
        hint_ms: Option<u64>,
    ) -> Result<(), NatsError> {
        self.pipeline
            .metrics
            .delivery_failed(&self.plugin.name, reason);
        if self.attempt >= limits.max_attempts {
            let message = format!(
                "gave up after {} attempts; last: {reason}: {message}",
                self.attempt
            );
            return self.bury(reason, message).await;
        }
        let delay = retry_delay(limits, self.attempt, hint_ms);
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| NatsError::request("nak")(e.to_string()))?;
        self.pipeline.metrics.delivery_retried(&self.plugin.name);
        Ok(())
    }

    /// Moves the delivery to the dead-letter stream.
    async fn bury(&self, reason: &str, message: String) -> Result<(), NatsError> {
        self.nats
            .dead_letter(&self.plugin.name, self.event, reason, &message)
            .await?;
        self.ack().await?;
        tracing::warn!(reason, %message, "delivery is dead");
        self.pipeline.metrics.delivery_dead(&self.plugin.name);
        Ok(())
    }

    /// Acknowledges the delivery and waits for JetStream to confirm it, so it
    /// is not handed out again.
    async fn ack(&self) -> Result<(), NatsError> {
        self.message
            .double_ack()
            .await
            .map_err(|e| NatsError::request("ack")(e.to_string()))
    }
}
