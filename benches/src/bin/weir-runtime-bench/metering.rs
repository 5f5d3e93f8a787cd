//! The cost of fuel and of epoch interruption: a tight Wasm loop on engines
//! with neither, either and both, as ratios to neither. Each mechanism adds a
//! check to every loop iteration; how much that costs bounds what the limits
//! cost a compute-heavy handler.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use wasmtime::{Config, Engine, Instance, Module, Store};

/// A loop of `n` iterations that adds, so nothing can be folded away.
const SPIN: &str = r#"
(module
  (func (export "spin") (param $n i64) (result i64)
    (local $sum i64)
    (loop $next
      (local.set $sum (i64.add (local.get $sum) (local.get $n)))
      (local.set $n (i64.sub (local.get $n) (i64.const 1)))
      (br_if $next (i64.ne (local.get $n) (i64.const 0))))
    (local.get $sum)))
"#;

/// The four ways an engine can meter, as (name, fuel, epochs).
const METERING: [(&str, bool, bool); 4] = [
    ("neither", false, false),
    ("fuel", true, false),
    ("epoch", false, true),
    ("both", true, true),
];

pub fn run(runs: usize, iterations: u64) -> anyhow::Result<()> {
    let wasm = wat::parse_str(SPIN).context("the loop module")?;
    let tokio = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let mut medians = Vec::new();
    for (name, fuel, epochs) in METERING {
        let mut config = Config::new();
        config.consume_fuel(fuel).epoch_interruption(epochs);
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let module = Module::new(&engine, &wasm).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut times = Vec::new();
        for _ in 0..runs {
            let took = tokio
                .block_on(spin(&engine, &module, fuel, iterations))
                .map_err(|e| anyhow::anyhow!("{name}: {e:#}"))?;
            times.push(took.as_secs_f64());
        }
        medians.push((name, super::median(times)));
    }
    let neither = medians[0].1;
    for (name, seconds) in medians {
        println!(
            "{}",
            json!({
                "scenario": "metering",
                "metering": name,
                "iterations": iterations,
                "median_ns_per_iteration": seconds * 1e9 / iterations as f64,
                "ratio_to_neither": seconds / neither,
            })
        );
    }
    Ok(())
}

/// Runs the loop once in a fresh store; returns how long the call took.
async fn spin(
    engine: &Engine,
    module: &Module,
    fuel: bool,
    iterations: u64,
) -> wasmtime::Result<Duration> {
    let mut store = Store::new(engine, ());
    if fuel {
        store.set_fuel(u64::MAX)?;
    }
    // Far in the future: the check runs on every iteration, the interrupt never.
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = Instance::new_async(&mut store, module, &[]).await?;
    let spin = instance.get_typed_func::<i64, i64>(&mut store, "spin")?;
    let started = Instant::now();
    let sum = spin.call_async(&mut store, iterations as i64).await?;
    let took = started.elapsed();
    std::hint::black_box(sum);
    Ok(took)
}
