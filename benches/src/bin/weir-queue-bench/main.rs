//! `weir-queue-bench`: how fast weir's durable queue is on this machine, with no
//! HTTP and no plugins in the way, next to the ceiling the storage engine sets
//! on the same disk in the same run.
//!
//! Each scenario runs in a fresh directory and prints one JSON line; for each
//! batch size `raw_fjall` then `enqueue`:
//!
//! - `raw_fjall` (`raw.rs`): fjall alone, one writer, a batch then an fsync:
//!   the ceiling;
//! - `enqueue`: weir's group committer, fed by concurrent submitters, with
//!   its ratio to `raw_fjall` at the same batch size. With more than one
//!   submitter the ratio can pass 1 at small batches: the committer shares one
//!   fsync among several batches, which the single raw writer cannot.
//!
//! `weir_bench::queue_setup` builds the embedded store and the events. Dequeueing
//! and the scheduler need no fsync: they are criterion micro-benchmarks
//! (`benches/micro`). Every measured loop stops after its count or after
//! `--max-seconds`, whichever comes first.

mod enqueue;
mod raw;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use serde_json::json;
use weir_bench::queue_setup as setup;

/// Micro-benchmark of weir's queue against raw fjall.
#[derive(Parser, Debug)]
#[command(name = "weir-queue-bench")]
struct Args {
    /// Where the scratch directories go (default: the system temp dir). It must
    /// be on the disk to measure: on tmpfs an fsync costs nothing.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Batch sizes to measure raw fjall and enqueue with.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 256])]
    batches: Vec<usize>,
    /// Events per raw and enqueue scenario (rounded up to whole batches).
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Tasks submitting to the group committer at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Payload bytes per event: a small webhook.
    #[arg(long, default_value_t = 200)]
    value_bytes: usize,
    /// Stop each measured loop after this many seconds, whatever is left.
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
    /// Measure raw fjall only: `benches/ingest.sh` sets the storage ceiling
    /// for weir's ingest with it.
    #[arg(long)]
    raw_only: bool,
}

/// What one measured loop did.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Events written.
    pub count: u64,
    /// Wall time of the loop.
    pub seconds: f64,
    /// True if the time cap stopped the loop before its count.
    pub capped: bool,
}

impl Measured {
    /// Throughput; zero for a loop that did nothing.
    pub fn per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.count as f64 / self.seconds
        } else {
            0.0
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.batches.is_empty() || args.batches.contains(&0) {
        bail!("--batches must list positive sizes");
    }
    if args.events == 0 || args.concurrency == 0 {
        bail!("--events and --concurrency must be positive");
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let cap = Duration::from_secs(args.max_seconds);
    let payload = setup::payload(args.value_bytes);

    // Each enqueue runs right after the raw run it is compared with, so both
    // meet the disk in the same state.
    for &batch in &args.batches {
        let raw = raw::scenario(&base, batch, args.events, &payload, cap)?;
        report("raw_fjall", batch, &raw, json!({}));
        if args.raw_only {
            continue;
        }
        let load = enqueue::Load {
            batch,
            events: args.events,
            concurrency: args.concurrency,
        };
        let measured = enqueue::scenario(&base, &load, &payload, cap)?;
        let extra = json!({
            "concurrency": args.concurrency,
            "raw_fjall_events_per_sec": raw.per_sec(),
            "ratio": measured.per_sec() / raw.per_sec(),
        });
        report("enqueue", batch, &measured, extra);
    }
    Ok(())
}

/// Prints one scenario's JSON line: the common fields, then `extra`'s.
fn report(scenario: &str, batch: usize, measured: &Measured, extra: serde_json::Value) {
    let mut line = serde_json::Map::new();
    line.insert("scenario".into(), scenario.into());
    line.insert("batch".into(), batch.into());
    line.insert("count".into(), measured.count.into());
    line.insert("seconds".into(), measured.seconds.into());
    line.insert("events_per_sec".into(), measured.per_sec().into());
    line.insert("capped".into(), measured.capped.into());
    if let serde_json::Value::Object(extra) = extra {
        line.extend(extra);
    }
    println!("{}", serde_json::Value::Object(line));
}
