//! The queue alone: scratch directories, the payload, an embedded store that routes
//! every bench event to one plugin that is never loaded, the events
//! themselves, and leasing and finishing their deliveries as a worker does.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use weir::config::Overrides;
use weir::egress_transport::Http1Transport;
use weir::embedded::Embedded;
use weir::event::{DEFAULT_TENANT, Event, Priority};
use weir::metrics::Metrics;
use weir::plugins::Plugins;
use weir::queue::{DeliveryState, Durability, Leased, Queue, Target};
use weir::runtime::engine::{self, PoolSize};
use weir_core::Shared;

/// The plugin every bench event gets a delivery for. No plugin by that name is
/// loaded: nothing dispatches, so the queue is measured alone.
pub const PLUGIN: &str = "sink";

/// The event type the route matches.
const KIND: &str = "bench";

/// One route, so enqueue pays for routing and one delivery per event, as ingest does.
const ROUTES: &str = r#"
[[route]]
name = "bench"
match = { type = "bench" }
plugins = ["sink"]
"#;

/// A fresh directory under `base`, removed when dropped.
pub fn scratch_dir(base: &Path, scenario: &str) -> anyhow::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("weir-queue-bench-{scenario}-"))
        .tempdir_in(base)
        .with_context(|| format!("cannot create a scratch directory in {}", base.display()))
}

/// `bytes` of printable filler that is not one repeated byte, so compression
/// does not flatter either side.
pub fn payload(bytes: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..bytes)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'!' + (state % 94) as u8
        })
        .collect()
}

/// Events per batch when [`fill`] stores them.
const FILL_BATCH: u64 = 256;
/// Long enough that no lease expires during a run.
const LEASE_MS: u64 = 60_000;

/// The embedded store weir would run with this route table, its queue in `dir`.
pub fn embedded(dir: &Path, durability: Durability) -> anyhow::Result<Arc<Embedded>> {
    let overrides = Overrides {
        data_dir: Some(dir.to_owned()),
        ..Overrides::default()
    };
    let config = weir::Config::from_toml(ROUTES, overrides).context("bench config")?;
    let queue = Queue::open(dir, durability)
        .with_context(|| format!("cannot open the queue in {}", dir.display()))?;
    // Nothing here stops on a storage failure: the error reaches the scenario instead.
    let stop = CancellationToken::new();
    let shared = Shared::new(config, Metrics::new(), no_plugins(dir)?, stop);
    Ok(Arc::new(Embedded::new(shared, queue)))
}

/// A plugin registry with nothing loaded: the queue is measured alone.
fn no_plugins(dir: &Path) -> anyhow::Result<Plugins> {
    let pool = PoolSize {
        instances: 1,
        max_memory_bytes: 1 << 20,
    };
    let engine = engine::build(pool, &dir.join("cache"))
        .map_err(|e| anyhow::anyhow!("cannot build the engine: {e:#}"))?;
    let linker = weir::runtime::linker(&engine, std::sync::Arc::new(Http1Transport))
        .map_err(|e| anyhow::anyhow!("cannot build the linker: {e:#}"))?;
    Ok(Plugins::new(engine, linker, pool, Default::default()))
}

/// Bench event number `n`, unique within one queue. With one tenant every
/// event is the default tenant's at normal priority; with more, events go
/// round the tenants and the priorities, so dispatch chooses among lanes.
pub fn event(n: u64, tenants: u64, payload: &[u8]) -> Event {
    let tenant = if tenants > 1 {
        format!("tenant-{}", n % tenants)
    } else {
        DEFAULT_TENANT.to_owned()
    };
    let mut event = Event::new(
        format!("bench-{n}"),
        "weir-queue-bench".to_owned(),
        KIND.to_owned(),
        tenant,
    );
    if tenants > 1 {
        event.priority = Priority::ALL[(n % 4) as usize];
    }
    event.data = payload.to_vec();
    event
}

/// Stores events `first..first + count` with a delivery each to [`PLUGIN`],
/// in unsynced batches: the setup of what is measured, not a measurement.
pub fn fill(
    embedded: &Embedded,
    first: u64,
    count: u64,
    tenants: u64,
    payload: &[u8],
) -> anyhow::Result<()> {
    let targets = [Target {
        plugin: PLUGIN.to_owned(),
        ordered: false,
    }];
    let end = first + count;
    for start in (first..end).step_by(FILL_BATCH as usize) {
        let mut staging = embedded.queue.stage();
        for n in start..end.min(start + FILL_BATCH) {
            staging.add_event(&event(n, tenants, payload), &targets)?;
        }
        // Wakes each delivery's lane, as ingest does.
        embedded.commit(staging)?;
    }
    Ok(())
}

/// Leases the next ready delivery of [`PLUGIN`] in the fair scheduler's
/// order, with its event, as a plugin's worker does.
pub fn lease(embedded: &Embedded) -> anyhow::Result<(Leased, Event)> {
    let queue = &embedded.queue;
    let leased = embedded
        .shared
        .lanes
        .of(PLUGIN)
        .lease_with(&embedded.shared.lanes.tenants, |lane, from| {
            queue.lease_next(PLUGIN, lane, from, LEASE_MS)
        })?
        .context("no delivery is ready")?;
    let event = queue
        .event(leased.seq)?
        .with_context(|| format!("delivery {} has no event", leased.seq))?;
    Ok((leased, event))
}

/// Releases `leased` as done in a batch of its own, as dispatch finishes a
/// delivery whose handler only acked. Unsynced, as in weir: a lost ack only
/// means the delivery runs again.
pub fn finish(embedded: &Embedded, mut leased: Leased, event: &Event) -> anyhow::Result<()> {
    leased.record.state = DeliveryState::Done;
    let mut staging = embedded.queue.stage();
    if !staging.release(&leased, event)? {
        bail!("the lease on delivery {} was lost", leased.seq);
    }
    embedded.commit(staging)?;
    embedded.shared.lanes.finished(&leased.lane.tenant);
    Ok(())
}
