//! Start-up time with ten plugins: from calling `weir::server::run` to
//! `/readyz` answering 200, first on an empty compilation cache (every
//! component compiled), then again on the same data directory (compiled code
//! read from wasmtime's cache).

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;

use super::served::{Served, rebuilt};

/// Plugins in the directory: ten distinct components.
const PLUGINS: usize = 10;

pub fn run(runs: usize, limit: Duration) -> anyhow::Result<()> {
    let component =
        std::fs::read(weir_bench::component("test-ack")).context("test-ack component")?;
    let (mut cold_ms, mut warm_ms) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let dir = tempfile::tempdir().context("scratch directory")?;
        let plugins = dir.path().join("plugins");
        std::fs::create_dir_all(&plugins)?;
        for n in 0..PLUGINS {
            // Distinct bytes, so each is compiled and cached on its own.
            let bytes = rebuilt(&component, &format!("{run}-{n}"));
            std::fs::write(plugins.join(format!("ack-{n}.wasm")), bytes)?;
        }
        let data = dir.path().join("data");
        cold_ms.push(time_to_ready(&data, &plugins, limit)?);
        warm_ms.push(time_to_ready(&data, &plugins, limit)?);
    }
    println!(
        "{}",
        json!({
            "scenario": "startup",
            "plugins": PLUGINS,
            "cold_runs_ms": cold_ms,
            "warm_runs_ms": warm_ms,
            "median_cold_ms": super::median(cold_ms.clone()),
            "median_warm_ms": super::median(warm_ms.clone()),
        })
    );
    Ok(())
}

/// Starts weir, waits until it is ready, stops it; returns the wait in ms.
fn time_to_ready(
    data: &std::path::Path,
    plugins: &std::path::Path,
    limit: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let weir = Served::start(data, plugins)?;
    weir.wait_ready(limit)?;
    let took = started.elapsed().as_secs_f64() * 1e3;
    weir.stop()?;
    Ok(took)
}
