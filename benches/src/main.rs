//! `weir-load`: drives a running weir over loopback with booking webhooks and
//! reports ingest throughput and latency, then (optionally) how long the
//! pipeline takes to process everything. Bounded in events and in time.
//! With `--url redis://127.0.0.1:PORT` it appends the same events to a Redis
//! stream instead (`redis_stream.rs`), the baseline weir is compared with.
//! Every connection is a task on the one client thread (`connection.rs`).

mod connection;
mod redis_stream;

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::future::try_join_all;
use serde_json::{Value, json};

use connection::{Answer, Connection};

/// Load generator for a running weir.
#[derive(Parser, Debug)]
#[command(name = "weir-load")]
struct Args {
    /// weir's base URL, or `redis://HOST:PORT` for the Redis baseline
    /// (loopback only). Given once per node of a NATS-backed cluster:
    /// requests alternate between the nodes and their counts add up.
    #[arg(long = "url", default_value = "http://127.0.0.1:8080")]
    urls: Vec<String>,
    /// Events to send in all.
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Events per request (1 sends single events, more sends JSON arrays).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Stop sending after this many seconds, whatever is left.
    #[arg(long, default_value_t = 120)]
    max_seconds: u64,
    /// After ingest, wait until every event has passed both example plugins
    /// (or the `--done-by` plugin).
    #[arg(long)]
    wait_processed: bool,
    /// The plugin whose processed deliveries count an event as done: the
    /// end of the pipeline under load.
    #[arg(long, default_value = "price-calculator")]
    done_by: String,
    /// Offer events at this rate (events/s) instead of as fast as weir answers:
    /// an open-loop load, for overload runs.
    #[arg(long)]
    rate: Option<f64>,
    /// Behave like a client that honours `Retry-After`: after a 429 or 503 a
    /// connection waits as told, and the requests it would have sent
    /// meanwhile are not sent (counted as `deferred`) rather than sent late
    /// in a burst.
    #[arg(long)]
    honor_retry_after: bool,
}

/// With `--rate`, a request slot this far behind its time is skipped by a
/// client that honours `Retry-After`: its sender was told to wait.
const STALE_SLOT: Duration = Duration::from_secs(1);

/// What one run measured.
struct Report {
    /// When the first request was due.
    started: Instant,
    /// What every connection did, added up.
    sent: Sent,
    /// Events fully processed while the load was being sent (goodput).
    processed_while_sending: f64,
    ingest_seconds: f64,
    processed_seconds: Option<f64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let loopback = [
        "http://127.",
        "http://localhost",
        "redis://127.",
        "redis://localhost",
    ];
    if let Some(url) = args
        .urls
        .iter()
        .find(|url| !loopback.iter().any(|prefix| url.starts_with(prefix)))
    {
        bail!("weir-load only talks to loopback addresses, not {url}");
    }
    if args.batch == 0 || args.concurrency == 0 || args.rate.is_some_and(|r| r <= 0.0) {
        bail!("--batch, --concurrency and --rate must be positive");
    }
    let redis = args.urls[0].starts_with("redis://");
    if redis && (args.wait_processed || args.rate.is_some() || args.urls.len() > 1) {
        bail!("--wait-processed, --rate and several --url are for weir, not Redis");
    }
    // /metrics is read with a blocking client, outside the load.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let done_before = if redis { 0.0 } else { done(&agent, &args)? };
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the client's runtime")?;
    let mut report = client.block_on(send_all(&args))?;
    if !redis {
        report.processed_while_sending = done(&agent, &args)? - done_before;
        if args.wait_processed {
            wait_processed(&args, &agent, done_before, &mut report)?;
        }
    }
    print_report(&args, &report);
    Ok(())
}

/// Sends every request over `--concurrency` connections at once.
async fn send_all(args: &Args) -> anyhow::Result<Report> {
    let load = Load {
        args,
        requests: args.events.div_ceil(args.batch),
        run_id: Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id()),
        next: AtomicUsize::new(0),
        started: Instant::now(),
        deadline: Instant::now() + Duration::from_secs(args.max_seconds),
    };
    let connections = (0..args.concurrency).map(|_| load.connection());
    let mut sent = Sent::default();
    for connection in try_join_all(connections).await? {
        sent.add(connection);
    }
    Ok(Report {
        started: load.started,
        sent,
        processed_while_sending: 0.0,
        ingest_seconds: load.started.elapsed().as_secs_f64(),
        processed_seconds: None,
    })
}

/// What every connection of one run shares.
struct Load<'a> {
    args: &'a Args,
    requests: usize,
    run_id: u128,
    /// The next request to send.
    next: AtomicUsize,
    started: Instant,
    deadline: Instant,
}

/// What one connection did.
#[derive(Default)]
struct Sent {
    /// Of accepted requests: a shed one is answered at once.
    latencies: Vec<Duration>,
    events: usize,
    errors: usize,
    /// Requests not sent because their connection was waiting out a Retry-After.
    deferred: usize,
}

impl Sent {
    /// Adds what another connection did.
    fn add(&mut self, other: Sent) {
        self.latencies.extend(other.latencies);
        self.events += other.events;
        self.errors += other.errors;
        self.deferred += other.deferred;
    }
}

impl Load<'_> {
    /// One connection: takes the next request until none is left or time is up.
    async fn connection(&self) -> anyhow::Result<Sent> {
        let args = self.args;
        let mut connection = Connection::open(&args.urls).await?;
        let mut sent = Sent::default();
        loop {
            let request = self.next.fetch_add(1, Ordering::Relaxed);
            if request >= self.requests || Instant::now() > self.deadline {
                return Ok(sent);
            }
            let first = request * args.batch;
            let events = first..(first + args.batch).min(args.events);
            if let Some(rate) = args.rate {
                let due = self.started + Duration::from_secs_f64(first as f64 / rate);
                if args.honor_retry_after
                    && Instant::now().saturating_duration_since(due) > STALE_SLOT
                {
                    sent.deferred += 1;
                    continue;
                }
                tokio::time::sleep_until(due.into()).await;
            }
            let count = events.len();
            let began = Instant::now();
            match connection.send(request, events, self.run_id).await {
                Answer::Accepted => {
                    sent.latencies.push(began.elapsed());
                    sent.events += count;
                }
                Answer::Refused { retry_after } => {
                    sent.errors += 1;
                    if let (true, Some(seconds)) = (args.honor_retry_after, retry_after) {
                        let until =
                            (Instant::now() + Duration::from_secs(seconds)).min(self.deadline);
                        tokio::time::sleep_until(until.into()).await;
                    }
                }
                Answer::Failed => sent.errors += 1,
            }
        }
    }
}

/// Waits (bounded by `--max-seconds`) until every event sent is processed.
fn wait_processed(
    args: &Args,
    agent: &ureq::Agent,
    done_before: f64,
    report: &mut Report,
) -> anyhow::Result<()> {
    let target = done_before + report.sent.events as f64;
    let wait_until = Instant::now() + Duration::from_secs(args.max_seconds);
    while done(agent, args)? < target {
        if Instant::now() > wait_until {
            bail!(
                "the pipeline did not process {} events within {} s",
                report.sent.events,
                args.max_seconds
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    report.processed_seconds = Some(report.started.elapsed().as_secs_f64());
    Ok(())
}

/// Booking webhook number `n` of run `run_id`.
fn event(run_id: u128, n: usize) -> Value {
    json!({
        "id": format!("load-{run_id:x}-{n}"),
        "source": "https://booking.example/webhooks",
        "type": "booking.webhook",
        "data": {
            "channel": "booking.com", "reservation_id": n, "hotel_id": format!("L{}", n % 100),
            "guest_name": "Grace Hopper", "checkin": "2026-12-01", "checkout": "2026-12-04",
            "total_price": 300.0, "currency": "EUR"
        }
    })
}

/// A request body: events `numbers` of run `run_id`, one booking.com
/// webhook or an array of them.
fn body(run_id: u128, numbers: Range<usize>) -> String {
    if numbers.len() == 1 {
        event(run_id, numbers.start).to_string()
    } else {
        Value::Array(numbers.map(|n| event(run_id, n)).collect()).to_string()
    }
}

/// Events the `--done-by` plugin (by default the price calculator, the end
/// of the example pipeline) has processed, over every node.
fn done(agent: &ureq::Agent, args: &Args) -> anyhow::Result<f64> {
    let sample = format!(
        r#"weir_deliveries_processed_total{{plugin="{}"}}"#,
        args.done_by
    );
    args.urls
        .iter()
        .map(|url| metric(agent, url, &sample))
        .sum()
}

fn metric(agent: &ureq::Agent, url: &str, sample: &str) -> anyhow::Result<f64> {
    let text = agent
        .get(&format!("{url}/metrics"))
        .call()
        .context("cannot reach weir's /metrics")?
        .body_mut()
        .read_to_string()?;
    Ok(text
        .lines()
        .find_map(|line| {
            line.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0))
}

fn print_report(args: &Args, report: &Report) {
    let mut latencies = report.sent.latencies.clone();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let line = json!({
        "events": report.sent.events,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "errors": report.sent.errors,
        "deferred": report.sent.deferred,
        "ingest_events_per_s": report.sent.events as f64 / report.ingest_seconds,
        "ingest_p50_ms": percentile(0.50),
        "ingest_p99_ms": percentile(0.99),
        "processed_events_per_s": report.processed_seconds.map(|s| report.sent.events as f64 / s),
        "offered_events_per_s": args.rate,
        "goodput_events_per_s": report.processed_while_sending / report.ingest_seconds,
    });
    println!("{line}");
}
