//! `weir-load`: drives a running weir over loopback with booking webhooks and
//! reports ingest throughput and latency, then (optionally) how long the
//! pipeline takes to process everything. Bounded in events and in time.
//! With `--url redis://127.0.0.1:PORT` it appends the same events to a Redis
//! stream instead (`redis_stream.rs`), the baseline weir is compared with.

mod redis_stream;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};

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
#[derive(Default)]
struct Report {
    events_sent: usize,
    errors: usize,
    /// Requests not sent because their connection was waiting out a Retry-After.
    deferred: usize,
    /// Events fully processed while the load was being sent (goodput).
    processed_while_sending: f64,
    ingest_seconds: f64,
    latencies: Vec<Duration>,
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
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    if let Some(address) = args.urls[0].strip_prefix("redis://") {
        if args.wait_processed || args.rate.is_some() || args.urls.len() > 1 {
            bail!("--wait-processed, --rate and several --url are for weir, not Redis");
        }
        let report = run_redis(&args, address)?;
        print_report(&args, &report);
        return Ok(());
    }
    let done_before = done(&agent, &args)?;
    let report = run(&args, &agent, done_before)?;
    print_report(&args, &report);
    Ok(())
}

fn run(args: &Args, agent: &ureq::Agent, done_before: f64) -> anyhow::Result<Report> {
    let requests = args.events.div_ceil(args.batch);
    let run_id = Instant::now().elapsed().as_nanos() ^ u128::from(std::process::id());
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (agent, next) = (agent.clone(), next.clone());
            let urls: Vec<String> = args
                .urls
                .iter()
                .map(|url| format!("{url}/v1/events"))
                .collect();
            let (batch, total, rate) = (args.batch, args.events, args.rate);
            let polite = args.honor_retry_after;
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let (mut sent, mut errors, mut deferred) = (0, 0, 0);
                loop {
                    let request = next.fetch_add(1, Ordering::Relaxed);
                    if request >= requests || Instant::now() > deadline {
                        break;
                    }
                    let first = request * batch;
                    if let Some(rate) = rate {
                        let due = started + Duration::from_secs_f64(first as f64 / rate);
                        if polite && Instant::now().saturating_duration_since(due) > STALE_SLOT {
                            deferred += 1;
                            continue;
                        }
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                    }
                    let body = body(run_id, first, batch.min(total - first));
                    let began = Instant::now();
                    let answer = agent
                        .post(&urls[request % urls.len()])
                        .header("content-type", "application/json")
                        .send(&body);
                    // Latency of accepted requests: a shed one is answered at once.
                    match answer {
                        Ok(response) if response.status().as_u16() == 202 => {
                            latencies.push(began.elapsed());
                            sent += batch.min(total - first)
                        }
                        Ok(response) => {
                            errors += 1;
                            let wait = response
                                .headers()
                                .get("retry-after")
                                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
                            if let (true, Some(seconds)) = (polite, wait) {
                                let until =
                                    (Instant::now() + Duration::from_secs(seconds)).min(deadline);
                                std::thread::sleep(until.saturating_duration_since(Instant::now()));
                            }
                        }
                        Err(_) => errors += 1,
                    }
                }
                (latencies, sent, errors, deferred)
            })
        })
        .collect();
    let mut report = gather(workers, started)?;
    report.processed_while_sending = done(agent, args)? - done_before;
    if args.wait_processed {
        let target = done_before + report.events_sent as f64;
        let wait_until = Instant::now() + Duration::from_secs(args.max_seconds);
        while done(agent, args)? < target {
            if Instant::now() > wait_until {
                bail!(
                    "the pipeline did not process {} events within {} s",
                    report.events_sent,
                    args.max_seconds
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        report.processed_seconds = Some(started.elapsed().as_secs_f64());
    }
    Ok(report)
}

/// The same events appended to Redis with the same threads and batches:
/// each thread holds one connection, as each of weir's holds one.
fn run_redis(args: &Args, address: &str) -> anyhow::Result<Report> {
    let requests = args.events.div_ceil(args.batch);
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let mut redis = redis_stream::RedisStream::connect(address)?;
            let next = next.clone();
            let (batch, total) = (args.batch, args.events);
            Ok(std::thread::spawn(move || {
                let (mut latencies, mut sent, mut errors) = (Vec::new(), 0, 0);
                loop {
                    let request = next.fetch_add(1, Ordering::Relaxed);
                    if request >= requests || Instant::now() > deadline {
                        break;
                    }
                    let first = request * batch;
                    let count = batch.min(total - first);
                    let events: Vec<String> = (first..first + count)
                        .map(|n| event(0, n).to_string())
                        .collect();
                    let began = Instant::now();
                    match redis.append(&events) {
                        Ok(()) => {
                            latencies.push(began.elapsed());
                            sent += count;
                        }
                        Err(_) => errors += 1,
                    }
                }
                (latencies, sent, errors, 0)
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    gather(workers, started)
}

/// What one load thread did: accepted latencies, events sent, errors, and
/// requests deferred.
type Sent = (Vec<Duration>, usize, usize, usize);

/// Joins the load threads started at `started` into one report.
fn gather(workers: Vec<std::thread::JoinHandle<Sent>>, started: Instant) -> anyhow::Result<Report> {
    let mut report = Report::default();
    for worker in workers {
        let (latencies, sent, errors, deferred) = worker
            .join()
            .map_err(|_| anyhow::anyhow!("a load thread panicked"))?;
        report.latencies.extend(latencies);
        report.events_sent += sent;
        report.errors += errors;
        report.deferred += deferred;
    }
    report.ingest_seconds = started.elapsed().as_secs_f64();
    Ok(report)
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

/// A request body: one booking.com webhook, or an array of `count` of them.
fn body(run_id: u128, first: usize, count: usize) -> String {
    let event = |n: usize| event(run_id, n);
    if count == 1 {
        event(first).to_string()
    } else {
        Value::Array((first..first + count).map(event).collect()).to_string()
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
    let mut latencies = report.latencies.clone();
    latencies.sort();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    let line = json!({
        "events": report.events_sent,
        "batch": args.batch,
        "concurrency": args.concurrency,
        "errors": report.errors,
        "deferred": report.deferred,
        "ingest_events_per_s": report.events_sent as f64 / report.ingest_seconds,
        "ingest_p50_ms": percentile(0.50),
        "ingest_p99_ms": percentile(0.99),
        "processed_events_per_s": report.processed_seconds.map(|s| report.events_sent as f64 / s),
        "offered_events_per_s": args.rate,
        "goodput_events_per_s": report.processed_while_sending / report.ingest_seconds,
    });
    println!("{line}");
}
