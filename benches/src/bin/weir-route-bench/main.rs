//! `weir-route-bench`: the cost of routing one event through a large table.
//!
//! A table of `--routes` routes, shaped like a SaaS back end's: each names an
//! event family by type glob (`booking.*`, `invoice.paid`, ...), some narrow
//! to a tenant or an attribute, a few stop. Events of many types, tenants and
//! attributes are routed with `RouteTable::plugins_for`, as ingest does; the
//! median of `--runs` runs of `--events` events is printed as one JSON line.

use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use weir::event::Event;

/// Micro-benchmark of route matching.
#[derive(Parser, Debug)]
#[command(name = "weir-route-bench")]
struct Args {
    /// Routes in the table.
    #[arg(long, default_value_t = 200)]
    routes: usize,
    /// Events routed per run.
    #[arg(long, default_value_t = 200_000)]
    events: usize,
    /// Runs; the median is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

/// Event families: route `i` matches family `i % FAMILIES`.
const FAMILIES: usize = 50;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let table = weir::Config::from_toml(&routes(args.routes), Default::default())
        .context("the generated table")?
        .routes;
    let events: Vec<Event> = (0..1000).map(event).collect();
    let mut matched = 0usize;
    let mut runs_ns = Vec::new();
    for _ in 0..args.runs {
        let started = Instant::now();
        for n in 0..args.events {
            matched += table.plugins_for(&events[n % events.len()]).len();
        }
        runs_ns.push(started.elapsed().as_nanos() as f64 / args.events as f64);
    }
    runs_ns.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "scenario": "route_match",
            "routes": args.routes,
            "events_per_run": args.events,
            "runs_ns_per_event": runs_ns,
            "median_ns_per_event": runs_ns[runs_ns.len() / 2],
            "deliveries_per_event": matched as f64 / (args.events * args.runs) as f64,
        })
    );
    Ok(())
}

/// The table: a route per (family, variant), the variants narrowing by tenant,
/// by attribute, or not at all; every tenth route stops.
fn routes(count: usize) -> String {
    let mut table = String::new();
    for i in 0..count {
        let family = i % FAMILIES;
        let condition = match (i / FAMILIES) % 4 {
            0 => format!("type = \"family{family}.*\""),
            1 => format!(
                "type = \"family{family}.created\", tenant = \"tenant{}\"",
                i % 7
            ),
            2 => format!(
                "type = \"family{family}.*\", attributes = {{ region = {{ one_of = [\"eu\", \"uk\"] }} }}"
            ),
            _ => format!("type = \"family{family}.updated\", source = \"app/*\""),
        };
        let stop = i % 10 == 9 && (i / FAMILIES) % 4 == 1;
        table.push_str(&format!(
            "[[route]]\nname = \"route-{i}\"\nmatch = {{ {condition} }}\nplugins = [\"plugin-{}\"]\nstop = {stop}\n\n",
            i % 20
        ));
    }
    table
}

/// Event `n`: one of the families (and some no route knows), a tenant, a region.
fn event(n: usize) -> Event {
    let kind = match n % 3 {
        0 => format!("family{}.created", n % (FAMILIES + 10)),
        1 => format!("family{}.updated", n % (FAMILIES + 10)),
        _ => format!("family{}.deleted", n % (FAMILIES + 10)),
    };
    let mut event = Event::new(
        format!("e{n}"),
        format!("app/{}", n % 5),
        kind,
        format!("tenant{}", n % 11),
    );
    if n.is_multiple_of(2) {
        event
            .extensions
            .insert("region".into(), ["eu", "us", "uk"][n % 3].into());
    }
    event
}
