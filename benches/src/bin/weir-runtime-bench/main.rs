//! `weir-runtime-bench`: what running plugins costs on this machine.
//!
//! Four scenarios, each run `--runs` times, the median printed as one JSON
//! line (the overhead of one delivery is a criterion micro-benchmark,
//! `benches/micro/delivery.rs`):
//!
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

mod languages;
mod metering;
mod reload;
mod served;
mod startup;

use std::time::Duration;

use clap::Parser;

/// Micro-benchmarks of weir's plugin runtime.
#[derive(Parser, Debug)]
#[command(name = "weir-runtime-bench")]
struct Args {
    /// Scenarios to run.
    #[arg(long, value_delimiter = ',', default_values_t = ["metering".to_owned(), "reload".to_owned(), "startup".to_owned()])]
    scenarios: Vec<String>,
    /// Runs of each scenario; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
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
            "metering" => metering::run(args.runs, args.iterations)?,
            "reload" => reload::run(args.runs, args.reloads, limit)?,
            "startup" => startup::run(args.runs, limit)?,
            "languages" => languages::run(args.runs, args.language_deliveries, limit)?,
            other => {
                anyhow::bail!("no scenario named {other:?} (metering, reload, startup, languages)")
            }
        }
    }
    Ok(())
}

/// The middle of `values` (the upper one of an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}
