//! Per-delivery overhead: the trivial handler run the way dispatch runs it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use weir::event::{DEFAULT_TENANT, Event};
use weir::metrics::Metrics;
use weir::pipeline::Pipeline;
use weir::queue::{Durability, Queue};
use weir::runtime::engine::{self, PoolSize};
use weir::runtime::{Attempt, Outcome, Plugin, PluginFiles, Plugins, Version};

/// Deliveries before the measured ones: the pool's slots and the caches warm up.
const WARM_UP: u64 = 1_000;

pub fn run(runs: usize, deliveries: u64, limit: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("scratch directory")?;
    let tokio = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let stop = CancellationToken::new();
    let pipeline = tokio.block_on(pipeline(dir.path(), &stop))?;
    let version = pipeline
        .plugins
        .get("test-ack")
        .context("test-ack is loaded")?
        .current();
    let event = Event::new(
        "bench".to_owned(),
        "weir-runtime-bench".to_owned(),
        "bench".to_owned(),
        DEFAULT_TENANT.to_owned(),
    );
    let mut per_delivery_us = Vec::new();
    tokio.block_on(async {
        deliver(&pipeline, &version, &event, WARM_UP, limit).await?;
        for _ in 0..runs {
            let (done, took) = deliver(&pipeline, &version, &event, deliveries, limit).await?;
            per_delivery_us.push(took.as_secs_f64() * 1e6 / done as f64);
        }
        anyhow::Ok(())
    })?;
    stop.cancel();
    println!(
        "{}",
        json!({
            "scenario": "delivery",
            "deliveries_per_run": deliveries,
            "runs_us": per_delivery_us,
            "median_us_per_delivery": super::median(per_delivery_us.clone()),
        })
    );
    Ok(())
}

/// Runs `count` deliveries one after another (or until `limit`); returns how
/// many ran and how long they took.
async fn deliver(
    pipeline: &Arc<Pipeline>,
    version: &Version,
    event: &Event,
    count: u64,
    limit: Duration,
) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut done = 0;
    while done < count && started.elapsed() < limit {
        let attempt = Attempt {
            event,
            number: 1,
            generation: 0,
            limits: &version.limits,
        };
        let execution = version.run(pipeline.clone(), attempt).await;
        if !matches!(execution.result, Ok(Outcome::Ack)) {
            bail!(
                "the trivial handler did not ack: {:?}",
                execution.result.err()
            );
        }
        done += 1;
    }
    Ok((done, started.elapsed()))
}

/// A pipeline with `test-ack` loaded on weir's engine, its queue in `dir`.
async fn pipeline(
    dir: &std::path::Path,
    stop: &CancellationToken,
) -> anyhow::Result<Arc<Pipeline>> {
    let config = weir::Config::from_toml(
        "",
        weir::config::Overrides {
            data_dir: Some(dir.to_owned()),
            ..Default::default()
        },
    )?;
    let limits = config.plugin_defaults.clone();
    let pool = PoolSize {
        instances: limits.instances,
        max_memory_bytes: limits.memory_bytes,
    };
    let engine = engine::build(pool, &dir.join("cache")).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let linker = weir::runtime::linker(&engine).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let path = super::component("test-ack");
    let files = PluginFiles::read(&path)?;
    let settings = config.settings_with_manifest("test-ack", &path)?;
    let version = Version::compile(&engine, &linker, "test-ack", &files, settings, &limits)?;
    let loaded = BTreeMap::from([("test-ack".to_owned(), Arc::new(Plugin::new(version)))]);
    // Deadlines are enforced by the epoch, as in weir.
    tokio::spawn(engine::tick_epochs(engine.clone(), stop.clone()));
    let plugins = Plugins::new(engine, linker, pool, loaded);
    let queue = Queue::open(&dir.join("queue"), Durability::Fsync)?;
    Ok(Arc::new(Pipeline::new(
        config,
        queue,
        Metrics::new(),
        plugins,
        stop.clone(),
    )))
}
