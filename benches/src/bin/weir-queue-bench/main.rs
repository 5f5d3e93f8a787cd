//! `weir-queue-bench`: how fast weir's durable queue is on this machine, with no
//! HTTP and no plugins in the way, next to the ceiling the storage engine sets
//! on the same disk in the same run.
//!
//! Each scenario runs in a fresh directory and prints one JSON line; for each
//! batch size `raw_fjall` then `enqueue`, then `dequeue` once:
//!
//! - `raw_fjall` (`raw.rs`): fjall alone, one writer, a batch then an fsync:
//!   the ceiling;
//! - `enqueue`: weir's group committer, fed by concurrent submitters, with
//!   its ratio to `raw_fjall` at the same batch size. With more than one
//!   submitter the ratio can pass 1 at small batches: the committer shares one
//!   fsync among several batches, which the single raw writer cannot;
//! - `dequeue`: leasing deliveries and marking them done, one thread, the
//!   fair scheduler choosing the lane, once per `--dequeue-tenants` count
//!   (events spread over that many tenants and all four priorities);
//! - `scheduler` (`scheduler.rs`): the scheduler's choice alone, in memory,
//!   per dispatch, with 1, 100 and 10,000 tenants in each priority.
//!
//! `setup` builds the pipeline and the events they share. Every measured loop
//! stops after its count or after `--max-seconds`, whichever comes first.

mod dequeue;
mod enqueue;
mod raw;
mod scheduler;
mod setup;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;
use serde_json::json;

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
    /// Deliveries to lease and finish in the dequeue scenario.
    #[arg(long, default_value_t = 20_000)]
    dequeue_events: u64,
    /// Tenants to spread the dequeue scenario's events over, one run each.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100])]
    dequeue_tenants: Vec<u64>,
    /// Dispatches the scheduler scenario chooses, per tenant count.
    #[arg(long, default_value_t = 2_000_000)]
    scheduler_picks: u64,
    /// Payload bytes per event: a small webhook.
    #[arg(long, default_value_t = 200)]
    value_bytes: usize,
    /// Stop each measured loop after this many seconds, whatever is left.
    #[arg(long, default_value_t = 30)]
    max_seconds: u64,
}

/// What one measured loop did.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Events written or deliveries finished.
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
    if args.events == 0 || args.dequeue_events == 0 || args.concurrency == 0 {
        bail!("--events, --dequeue-events and --concurrency must be positive");
    }
    if args.dequeue_tenants.contains(&0) || args.scheduler_picks == 0 {
        bail!("--dequeue-tenants and --scheduler-picks must be positive");
    }
    let base = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let cap = Duration::from_secs(args.max_seconds);
    let payload = setup::payload(args.value_bytes);

    // Each enqueue runs right after the raw run it is compared with, so both
    // meet the disk in the same state.
    for &batch in &args.batches {
        let raw = raw::scenario(&base, batch, args.events, &payload, cap)?;
        report("raw_fjall", Some(batch), &raw, json!({}));
        let load = enqueue::Load {
            batch,
            events: args.events,
            tenants: 1,
            concurrency: args.concurrency,
        };
        let measured = enqueue::scenario(&base, &load, &payload, cap)?;
        let extra = json!({
            "concurrency": args.concurrency,
            "raw_fjall_events_per_sec": raw.per_sec(),
            "ratio": measured.per_sec() / raw.per_sec(),
        });
        report("enqueue", Some(batch), &measured, extra);
    }
    for &tenants in &args.dequeue_tenants {
        let measured = dequeue::scenario(
            &base,
            args.dequeue_events,
            tenants,
            args.concurrency,
            &payload,
            cap,
        )?;
        report("dequeue", None, &measured, json!({ "tenants": tenants }));
    }
    for tenants in [1, 100, 10_000] {
        let ns = scheduler::ns_per_dispatch(tenants, args.scheduler_picks);
        let line = json!({
            "scenario": "scheduler",
            "tenants_per_priority": tenants,
            "picks": args.scheduler_picks,
            "ns_per_dispatch": ns,
        });
        println!("{line}");
    }
    Ok(())
}

/// Prints one scenario's JSON line: the common fields, then `extra`'s.
fn report(scenario: &str, batch: Option<usize>, measured: &Measured, extra: serde_json::Value) {
    let rate_key = if scenario == "dequeue" {
        "deliveries_per_sec"
    } else {
        "events_per_sec"
    };
    let mut line = serde_json::Map::new();
    line.insert("scenario".into(), scenario.into());
    line.insert("batch".into(), batch.into());
    line.insert("count".into(), measured.count.into());
    line.insert("seconds".into(), measured.seconds.into());
    line.insert(rate_key.into(), measured.per_sec().into());
    line.insert("capped".into(), measured.capped.into());
    if let serde_json::Value::Object(extra) = extra {
        line.extend(extra);
    }
    println!("{}", serde_json::Value::Object(line));
}
