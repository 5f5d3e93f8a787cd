//! `weir-runtime-bench`: what running plugins costs on this machine.
//!
//! Five scenarios, each run `--runs` times, the median printed as one JSON line:
//!
//! - `delivery` (`delivery.rs`): one delivery to a handler that only acks
//!   (`plugins/test-ack`), as weir runs it: a fresh store, an instance from the
//!   pooling allocator, fuel and deadline set, the call, the drop. One at a
//!   time, so the figure is the runtime's overhead per delivery.
//! - `metering` (`metering.rs`): a tight Wasm loop on four engines (no
//!   metering, fuel, epoch interruption, both), with the cost of each as a
//!   ratio to none.
//! - `reload` (`reload.rs`): a real weir serving on loopback; a changed
//!   component is renamed into its plugin directory, and the time until
//!   `GET /v1/plugins` shows the new version is taken.
//! - `startup` (`startup.rs`): weir with ten plugins, from start to `/readyz`,
//!   on an empty compilation cache and then on a warm one.
//!
//! - `languages` (`languages.rs`, not in the default set: it needs the Python,
//!   JavaScript and C examples built, which `benches/languages.sh` does): the
//!   booking normalizer in Rust, Python, JavaScript and C, each compiled on an
//!   empty cache and from the cache, and its cost per delivery.
//!
//! `served.rs` starts a real weir in-process for `reload` and `startup`.
//!
//! Every measured loop stops after its count or after `--max-seconds`.

mod delivery;
mod languages;
mod metering;
mod reload;
mod served;
mod startup;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;

/// Micro-benchmarks of weir's plugin runtime.
#[derive(Parser, Debug)]
#[command(name = "weir-runtime-bench")]
struct Args {
    /// Scenarios to run.
    #[arg(long, value_delimiter = ',', default_values_t = ["delivery".to_owned(), "metering".to_owned(), "reload".to_owned(), "startup".to_owned()])]
    scenarios: Vec<String>,
    /// Runs of each scenario; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Deliveries per `delivery` run.
    #[arg(long, default_value_t = 20_000)]
    deliveries: u64,
    /// Loop iterations per `metering` call.
    #[arg(long, default_value_t = 200_000_000)]
    iterations: u64,
    /// Deliveries per `languages` run, per language.
    #[arg(long, default_value_t = 500)]
    language_deliveries: u64,
    /// Swaps per `reload` run.
    #[arg(long, default_value_t = 10)]
    reloads: usize,
    /// Stop each measured loop after this many seconds, whatever is left.
    #[arg(long, default_value_t = 60)]
    max_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let limit = Duration::from_secs(args.max_seconds);
    for scenario in &args.scenarios {
        match scenario.as_str() {
            "delivery" => delivery::run(args.runs, args.deliveries, limit)?,
            "metering" => metering::run(args.runs, args.iterations)?,
            "reload" => reload::run(args.runs, args.reloads, limit)?,
            "startup" => startup::run(args.runs, limit)?,
            "languages" => languages::run(args.runs, args.language_deliveries, limit)?,
            other => {
                anyhow::bail!(
                    "no scenario named {other:?} (delivery, metering, reload, startup, languages)"
                )
            }
        }
    }
    Ok(())
}

/// The component of the bench plugin `name`, built by `build.rs`.
fn component(name: &str) -> PathBuf {
    Path::new(env!("WEIR_BENCH_PLUGINS")).join(format!("{name}.wasm"))
}

/// The middle of `values` (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
