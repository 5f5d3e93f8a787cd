//! Dispatch on the embedded store: one worker per plugin leases ready
//! deliveries only while the plugin has a free instance slot (and is not
//! paused), so a slow plugin slows its own lane and nothing else; each runs
//! through the delivery engine (`weir_core::deliver`).

mod embedded;
mod expiry;
mod hold;
mod oldest_ready;
mod scheduler;

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use embedded::{FjallDeliveries, FjallLeased};
pub use oldest_ready::watch_oldest_ready;
pub use scheduler::run_timers;

use weir_core::deliver::{Engine, deliver};
use weir_core::trace_context;

use crate::event::Event;
use crate::metrics::plugin as plugin_label;
use crate::pipeline::Pipeline;
use crate::plugins::Plugin;
use crate::queue::{Leased, QueueError, StoreError};
use crate::route::RouteTable;
use crate::runtime::Version;
use crate::schedule::lease_ms;

/// How long a worker waits after a storage error before trying again.
const STORAGE_ERROR_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Leases and runs `plugin`'s deliveries until `stop` is cancelled; each runs as
/// a task on `deliveries`, so shutdown can wait for the ones in flight.
pub async fn serve_plugin(
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
        let lease_ms = lease_ms(&pipeline.config, &routes, &plugin.name, &version.limits);
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
            handle(&pipeline, &plugin, &version, &routes, leased, event)
                .instrument(span.clone())
                .await
        }
        Err(error) => {
            pipeline.storage_failed(&error);
            Err(error.into())
        }
    };
    if let Err(error) = handled {
        let _entered = span.enter();
        tracing::error!(%error, "cannot finish delivery; it will be redelivered after a restart");
        pipeline.store_failed(&error);
    }
    pipeline.lanes.finished(&tenant);
    busy.dec();
}

/// Holds the delivery if its tenant is paused; runs it through the engine otherwise.
async fn handle(
    pipeline: &Arc<Pipeline>,
    plugin: &Plugin,
    version: &Version,
    routes: &RouteTable,
    leased: Leased,
    event: Event,
) -> Result<(), StoreError> {
    let held = hold::hold_if_paused(pipeline, leased, &event).map_err(|error| {
        pipeline.storage_failed(&error);
        StoreError::from(error)
    })?;
    let Some(leased) = held else {
        return Ok(());
    };
    let engine = Engine {
        metrics: &pipeline.metrics,
        max_hops: pipeline.config.dispatch.max_hops,
    };
    let store = FjallDeliveries {
        pipeline: pipeline.clone(),
    };
    let leased = FjallLeased { leased, event };
    deliver(&engine, &store, plugin, version, routes, leased).await
}
