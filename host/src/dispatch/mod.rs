//! Dispatch: one worker per plugin leases ready deliveries only while the plugin
//! has a free instance slot (and is not paused), so a slow plugin slows its own
//! lane and nothing else.

mod breakers;
mod expiry;
mod hold;
mod oldest_ready;
mod replay;
mod scheduler;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use oldest_ready::watch_oldest_ready;
pub use replay::{ReplayProgress, ReplaySpec, Replays};
pub use scheduler::run_timers;

use crate::backend::Backend;
use crate::commit::{self, Finished};
use crate::config::PluginLimits;
use crate::event::Event;
use crate::failpoint;
use crate::metrics::plugin as plugin_label;
use crate::pipeline::Pipeline;
use crate::plugins::Plugin;
use crate::queue::{Leased, QueueError};
use crate::route::RouteTable;
use crate::runtime::{Attempt, Failure, FailureKind, Outcome, Version};
use crate::schedule::{Load, Signal};
use crate::telemetry::trace_context;

/// How often a delivery reruns at once when the state it read changed under it,
/// before it backs off like any other retry.
const MAX_CONFLICT_RERUNS: u32 = 8;

/// How long a worker waits after a storage error before trying again.
const STORAGE_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// What it takes to start a plugin's worker, at start-up or when a reload adds one.
#[derive(Clone)]
pub struct Workers {
    /// The shared stages.
    pub pipeline: Arc<Pipeline>,
    /// Cancelled when weir stops.
    pub stop: CancellationToken,
    /// Where workers run, so shutdown waits for them.
    pub background: TaskTracker,
    /// Where deliveries run, so shutdown can wait for the ones in flight.
    pub deliveries: TaskTracker,
    /// Where the deliveries come from.
    pub backend: Arc<dyn Backend>,
}

impl Workers {
    /// Starts `plugin`'s worker on the backend; whatever waits for it from
    /// an earlier run is found too.
    pub fn start(&self, plugin: Arc<Plugin>) {
        if self.stop.is_cancelled() {
            return;
        }
        self.backend.serve(self, plugin);
    }
}

/// Leases and runs `plugin`'s deliveries until `stop` is cancelled; each runs as
/// a task on `deliveries`, so shutdown can wait for the ones in flight.
pub(crate) async fn serve_plugin(
    pipeline: Arc<Pipeline>,
    plugin: Arc<Plugin>,
    stop: CancellationToken,
    deliveries: TaskTracker,
) {
    let lanes = pipeline.lanes.of(&plugin.name);
    let mut gate = plugin.gate.subscribe();
    loop {
        let Some(permit) = plugin.free_slot(&mut gate, &stop).await else {
            return;
        };
        // Slots in use, this one included, against the adaptive limit.
        let busy = plugin.instances as usize - plugin.slots.available_permits();
        if busy > plugin.concurrency.current() as usize {
            drop(permit);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = plugin.slot_freed.notified() => {}
            }
            continue;
        }
        // The version is chosen at lease time: the delivery runs on it to the end.
        let version = plugin.current();
        // So is the routing table: the lease is sized by the deadline its
        // route sets, which a reload must not change under it.
        let routes = pipeline.routes();
        let lease_ms = lease_ms(&pipeline, &routes, &plugin.name, &version.limits);
        let leased = lanes.lease_with(&pipeline.lanes.tenants, |lane, from| {
            pipeline
                .queue
                .lease_next(&plugin.name, lane, from, lease_ms)
        });
        match leased {
            Ok(Some(leased)) => {
                let task = run_delivery(pipeline.clone(), plugin.clone(), version, routes, leased);
                let plugin = plugin.clone();
                deliveries.spawn(async move {
                    task.await;
                    // Only once the permit is back is the slot free: a worker
                    // woken before would count it busy, wait again under the
                    // adaptive limit, and miss this one notification.
                    drop(permit);
                    plugin.slot_freed.notify_one();
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = lanes.woken() => {}
                }
            }
            Err(error) => {
                drop(permit);
                tracing::error!(plugin = %plugin.name, %error, "cannot lease deliveries");
                pipeline.storage_failed(&error);
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(STORAGE_ERROR_PAUSE) => {}
                }
            }
        }
    }
}

/// How long a lease holds: the handler's deadline, the slack of the timeout
/// around it, and the configured grace for committing. Past that the worker is
/// presumed gone and the delivery is handed out again.
fn lease_duration(pipeline: &Pipeline, limits: &PluginLimits) -> std::time::Duration {
    limits.deadline + crate::runtime::DEADLINE_SLACK + pipeline.config.dispatch.lease_grace
}

/// The lease of a delivery to `plugin` (under `limits`) in ms: long enough for
/// the longest deadline any route to it sets, since the route is known only
/// once the delivery is leased.
pub(crate) fn lease_ms(
    pipeline: &Pipeline,
    routes: &RouteTable,
    plugin: &str,
    limits: &PluginLimits,
) -> u64 {
    let mut limits = limits.clone();
    if let Some(longest) = routes.longest_deadline(plugin) {
        limits.deadline = limits.deadline.max(longest);
    }
    lease_duration(pipeline, &limits).as_millis() as u64
}

async fn run_delivery(
    pipeline: Arc<Pipeline>,
    plugin: Arc<Plugin>,
    version: Arc<Version>,
    routes: Arc<RouteTable>,
    leased: Leased,
) {
    let label = plugin_label(&plugin.name);
    let busy = pipeline
        .metrics
        .instances_busy
        .get_or_create(&label)
        .clone();
    busy.inc();
    let tenant = leased.lane.tenant.clone();
    let span = tracing::info_span!("delivery", plugin = %plugin.name, version = %version.id, seq = leased.seq, %tenant, event_id = tracing::field::Empty);
    let event = pipeline.queue.event(leased.seq).and_then(|event| {
        event.ok_or_else(|| QueueError::Corrupt(format!("delivery {} has no event", leased.seq)))
    });
    let handled = match event {
        Ok(event) => {
            span.record("event_id", event.id.as_str());
            // Before the span starts: its parent is the trace that brought the event.
            trace_context::adopt_from_event(&span, &event);
            handle(&pipeline, &plugin, &version, &routes, leased, &event)
                .instrument(span.clone())
                .await
        }
        Err(error) => Err(error),
    };
    if let Err(error) = handled {
        let _entered = span.enter();
        tracing::error!(%error, "cannot finish delivery; it will be redelivered after a restart");
        pipeline.storage_failed(&error);
    }
    pipeline.lanes.finished(&tenant);
    busy.dec();
}

async fn handle(
    pipeline: &Arc<Pipeline>,
    plugin: &Plugin,
    version: &Version,
    routes: &RouteTable,
    leased: Leased,
    event: &Event,
) -> Result<(), crate::queue::QueueError> {
    let Some(leased) = hold::hold_if_paused(pipeline, leased, event)? else {
        return Ok(());
    };
    if pipeline
        .queue
        .is_committed(&plugin.name, leased.seq, leased.record.generation)?
    {
        tracing::info!("effects already committed; not running again");
        return commit::skip_committed(pipeline, leased, event).map(log_lost_lease);
    }
    let Some((leased, gate)) = breakers::pass_breaker(pipeline, routes, plugin, leased, event)?
    else {
        return Ok(());
    };
    let label = plugin_label(&plugin.name);
    let metrics = &pipeline.metrics;
    // The plugin's limits, with what the delivery's route overrides.
    let limits = gate.options.as_ref().map_or_else(
        || version.limits.clone(),
        |options| options.apply(&version.limits),
    );
    let mut leased = leased;
    for _ in 0..MAX_CONFLICT_RERUNS {
        let attempt = Attempt {
            event,
            number: leased.record.attempts,
            generation: leased.record.generation,
            limits: &limits,
        };
        let execute = tracing::info_span!("execute", attempt = attempt.number);
        let execution = version
            .run(pipeline.clone(), attempt)
            .instrument(execute)
            .await;
        metrics.handler_ran(&label, &execution);
        if let Err(failure) = &execution.result {
            tracing::warn!(reason = failure.kind.as_str(), message = %failure.message, "attempt failed");
        }
        let load = match &execution.result {
            Ok(Outcome::RetryLater(_)) => Load::Throttled,
            Err(Failure {
                kind: FailureKind::Deadline,
                ..
            }) => Load::Overloaded,
            _ => Load::Normal,
        };
        let limit = plugin.concurrency.record(execution.duration, load);
        metrics
            .concurrency_limit
            .get_or_create(&label)
            .set(i64::from(limit));
        gate.record(metrics, plugin, Signal::of(&execution));
        if let Some(error) = failpoint::pass(failpoint::Point::BeforeCommit) {
            return Err(QueueError::from(fjall::Error::Io(error)));
        }
        let finished = tracing::info_span!("commit")
            .in_scope(|| commit::finish(pipeline, &limits, leased, event, execution))?;
        if let Some(error) = failpoint::pass(failpoint::Point::AfterCommit) {
            return Err(QueueError::from(fjall::Error::Io(error)));
        }
        match finished {
            Finished::Committed => return Ok(()),
            Finished::LeaseLost => {
                log_lost_lease(Finished::LeaseLost);
                return Ok(());
            }
            Finished::Conflict(again) => {
                metrics.state_conflicts.get_or_create(&label).inc();
                leased = *again;
            }
        }
    }
    tracing::warn!("state kept changing under this delivery; retrying it later");
    let message = "state it read kept changing before it could commit".to_owned();
    commit::retry_or_bury(
        pipeline,
        &limits,
        leased,
        event,
        "state_conflict",
        message,
        None,
    )
    .map(log_lost_lease)
}

fn log_lost_lease(finished: Finished) {
    if let Finished::LeaseLost = finished {
        tracing::warn!("the lease expired before this attempt committed; its result is dropped");
    }
}
