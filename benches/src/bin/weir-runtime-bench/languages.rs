//! The same plugin in each language: the booking normalizer in Rust, Python,
//! JavaScript and C (`plugins/booking-normalizer*`, held to one set of test
//! vectors). For each: compiling it on an empty cache and from the cache, as
//! weir loads a plugin, and one delivery of the same webhook (a fresh
//! instance from the pool, the call, the drop), one at a time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use weir::authoring::Workbench;
use weir::event::{DEFAULT_TENANT, Event, parse_event};
use weir::runtime::{Attempt, CommittedState, Outcome, Version, engine};

/// Deliveries before the measured ones: the pool's slots and the caches warm up.
const WARM_UP: u64 = 20;

/// The examples built by `weir plugin build` (`benches/languages.sh` builds them).
fn components() -> [(&'static str, PathBuf); 4] {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    [
        ("rust", weir_bench::component("booking-normalizer")),
        (
            "python",
            sources.join("booking-normalizer-py/booking-normalizer-py.wasm"),
        ),
        (
            "javascript",
            sources.join("booking-normalizer-js/booking-normalizer-js.wasm"),
        ),
        (
            "c",
            sources.join("booking-normalizer-c/booking-normalizer-c.wasm"),
        ),
    ]
}

pub fn run(runs: usize, deliveries: u64, limit: Duration) -> anyhow::Result<()> {
    let event = airbnb_webhook()?;
    for (language, path) in components() {
        if !path.is_file() {
            bail!(
                "{} is not built: run `weir plugin build {}` first (benches/languages.sh does)",
                path.display(),
                path.parent()
                    .map_or_else(String::new, |dir| dir.display().to_string())
            );
        }
        let scratch = tempfile::tempdir().context("scratch directory")?;
        let (mut cold_s, mut cached_ms) = (Vec::new(), Vec::new());
        for run in 0..runs {
            let cache = scratch.path().join(format!("cache-{run}"));
            let started = Instant::now();
            Workbench::open(&path, &scratch.path().join(format!("cold-{run}")), &cache)?;
            cold_s.push(started.elapsed().as_secs_f64());
            let started = Instant::now();
            Workbench::open(&path, &scratch.path().join(format!("warm-{run}")), &cache)?;
            cached_ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        let bench = Workbench::open(
            &path,
            &scratch.path().join("run"),
            &scratch.path().join("cache-0"),
        )?;
        let size_bytes = bench.version.size_bytes;
        let (per_delivery_us, fuel) = deliver(bench, &event, runs, deliveries, limit)?;
        println!(
            "{}",
            json!({
                "scenario": "languages",
                "language": language,
                "size_bytes": size_bytes,
                "compile_cold_s": cold_s,
                "median_compile_cold_s": super::median(cold_s.clone()),
                "compile_cached_ms": cached_ms,
                "median_compile_cached_ms": super::median(cached_ms.clone()),
                "runs_us_per_delivery": per_delivery_us,
                "median_us_per_delivery": super::median(per_delivery_us.clone()),
                "fuel_per_delivery": fuel,
            })
        );
    }
    Ok(())
}

/// `runs` rounds of up to `deliveries` deliveries each (or until `limit`);
/// returns each round's microseconds per delivery and the fuel of one.
fn deliver(
    bench: Workbench,
    event: &Event,
    runs: usize,
    deliveries: u64,
    limit: Duration,
) -> anyhow::Result<(Vec<f64>, u64)> {
    let state = bench.state()?;
    let tokio = tokio::runtime::Runtime::new().context("tokio runtime")?;
    let stop = CancellationToken::new();
    tokio.spawn(engine::tick_epochs(
        bench.plugins.engine().clone(),
        stop.clone(),
    ));
    let version = bench.version;
    let result = tokio.block_on(async {
        round(&state, &version, event, WARM_UP, limit).await?;
        let (mut per_delivery_us, mut fuel) = (Vec::new(), 0);
        for _ in 0..runs {
            let (us, used) = round(&state, &version, event, deliveries, limit).await?;
            per_delivery_us.push(us);
            fuel = used;
        }
        anyhow::Ok((per_delivery_us, fuel))
    });
    stop.cancel();
    result
}

/// Up to `count` deliveries one after another (or until `limit`): the
/// microseconds per delivery and the fuel of the last.
async fn round(
    state: &Arc<dyn CommittedState>,
    version: &Version,
    event: &Event,
    count: u64,
    limit: Duration,
) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let (mut done, mut fuel) = (0, 0);
    while done < count && started.elapsed() < limit {
        let attempt = Attempt {
            event,
            number: 1,
            generation: 0,
            limits: &version.limits,
        };
        let execution = version.run(state.clone(), attempt).await;
        if !matches!(execution.result, Ok(Outcome::Emit(_))) {
            bail!(
                "{} did not emit: {:?}",
                version.name,
                execution.result.err()
            );
        }
        fuel = execution.fuel_consumed;
        done += 1;
    }
    Ok((
        started.elapsed().as_secs_f64() * 1e6 / done.max(1) as f64,
        fuel,
    ))
}

/// The Airbnb webhook of the test vectors.
fn airbnb_webhook() -> anyhow::Result<Event> {
    let object: Map<String, Value> = serde_json::from_value(json!({
        "specversion": "1.0", "id": "bench", "source": "https://airbnb.example", "type": "booking.webhook",
        "data": {"channel": "airbnb", "reservation": {"code": "HM123", "listing_id": "L1",
            "guest": {"first_name": "Ada", "last_name": "Lovelace"},
            "start_date": "2026-12-01", "end_date": "2026-12-04",
            "payout": {"amount": "412.50", "currency": "EUR"}}}
    }))?;
    parse_event(object, DEFAULT_TENANT).map_err(anyhow::Error::msg)
}
