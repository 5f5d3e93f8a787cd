//! Dequeue as a plugin's worker does it, minus the plugin: the fair scheduler
//! picks a lane, the next ready delivery in it is leased, then released as
//! done in its own batch. Neither write is fsync'd, as in weir (a lost lease or
//! ack only means the delivery runs again).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weir::pipeline::Pipeline;
use weir::queue::DeliveryState;

use crate::enqueue::{self, Load};
use crate::{Measured, setup};

/// Events per submit while filling the queue: the fill is not what is measured.
const FILL_BATCH: usize = 256;
/// Long enough that no lease expires during a run.
const LEASE_MS: u64 = 60_000;

/// Enqueues `events` to [`setup::PLUGIN`], spread over `tenants` tenants and
/// every priority, then leases and finishes them all.
pub fn scenario(
    base: &Path,
    events: u64,
    tenants: u64,
    concurrency: usize,
    payload: &[u8],
    cap: Duration,
) -> anyhow::Result<Measured> {
    let dir = setup::scratch_dir(base, "dequeue")?;
    let pipeline = setup::pipeline(dir.path())?;
    let load = Load {
        batch: FILL_BATCH,
        events,
        tenants,
        concurrency,
    };
    let filled = enqueue::submit_all(&pipeline, &load, payload, cap)?;
    drain(&pipeline, filled.count, cap)
}

/// Leases and finishes up to `expected` deliveries, in the scheduler's order.
fn drain(pipeline: &Pipeline, expected: u64, cap: Duration) -> anyhow::Result<Measured> {
    let queue = &pipeline.queue;
    let lanes = pipeline.lanes.of(setup::PLUGIN);
    pipeline.lanes.discover(setup::PLUGIN, queue)?;
    let started = Instant::now();
    let deadline = started + cap;
    let mut finished = 0u64;
    let mut capped = false;
    while finished < expected {
        if Instant::now() >= deadline {
            capped = true;
            break;
        }
        let leased = lanes.lease_with(&pipeline.lanes.tenants, |lane, from| {
            queue.lease_next(setup::PLUGIN, lane, from, LEASE_MS)
        })?;
        let Some(mut leased) = leased else {
            bail!("only {finished} of {expected} deliveries were ready");
        };
        let event = queue
            .event(leased.seq)?
            .with_context(|| format!("delivery {} has no event", leased.seq))?;
        leased.record.state = DeliveryState::Done;
        let mut staging = queue.stage();
        if !staging.release(&leased, &event)? {
            bail!("the lease on delivery {} was lost", leased.seq);
        }
        staging.commit()?;
        pipeline.lanes.finished(&leased.lane.tenant);
        finished += 1;
    }
    Ok(Measured {
        count: finished,
        seconds: started.elapsed().as_secs_f64(),
        capped,
    })
}
