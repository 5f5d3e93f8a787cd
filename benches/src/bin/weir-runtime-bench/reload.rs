//! Reload latency: from renaming a changed component into the plugin directory
//! to `GET /v1/plugins` showing its version, on a real weir on loopback with
//! the default debounce. Compiling the new component is most of it.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use super::served::{POLL, Served, rebuilt};

pub fn run(runs: usize, reloads: usize, limit: Duration) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("scratch directory")?;
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let component =
        std::fs::read(weir_bench::component("test-ack")).context("test-ack component")?;
    std::fs::write(plugins.join("test-ack.wasm"), &component)?;
    let weir = Served::start(&dir.path().join("data"), &plugins)?;
    let mut current = wait_for_version(&weir, None, limit)?;

    let mut runs_ms = Vec::new();
    for run in 0..runs {
        let mut took_ms = Vec::new();
        for swap in 0..reloads {
            let bytes = rebuilt(&component, &format!("{run}-{swap}"));
            let staged = plugins.join("test-ack.wasm.part");
            std::fs::write(&staged, bytes)?;
            let started = Instant::now();
            std::fs::rename(&staged, plugins.join("test-ack.wasm"))?;
            current = wait_for_version(&weir, Some(&current), limit)?;
            took_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        took_ms.sort_by(f64::total_cmp);
        runs_ms.push(took_ms);
    }
    weir.stop()?;

    let all: Vec<f64> = runs_ms.iter().flatten().copied().collect();
    println!(
        "{}",
        json!({
            "scenario": "reload",
            "reloads_per_run": reloads,
            "median_p50_ms": super::median(runs_ms.iter().map(|run| super::median(run.clone())).collect()),
            "median_max_ms": super::median(runs_ms.iter().filter_map(|run| run.last().copied()).collect()),
            "max_ms": all.iter().copied().fold(0.0, f64::max),
        })
    );
    Ok(())
}

/// Waits until test-ack serves a version other than `old` (any, if none).
fn wait_for_version(weir: &Served, old: Option<&str>, limit: Duration) -> anyhow::Result<String> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Ok(mut answer) = weir.agent.get(format!("{}/v1/plugins", weir.base)).call()
            && let Ok(body) = answer.body_mut().read_json::<Value>()
            && let Some(version) = body["plugins"][0]["version"].as_str()
            && old != Some(version)
        {
            return Ok(version.to_owned());
        }
        std::thread::sleep(POLL);
    }
    bail!("no new version of test-ack within {limit:?}")
}
