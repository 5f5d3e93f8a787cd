#!/usr/bin/env bash
# Measures weir on this machine: durable ingest (single events, then batches of
# 100) and end-to-end processing through both example plugins, then the queue
# alone (weir-queue-bench: raw fjall, enqueue through group commit, dequeue and
# ack), then the plugin runtime (weir-runtime-bench: overhead per delivery, the
# cost of fuel and epoch interruption, reload latency, start-up) and routing
# (weir-route-bench: a 200-route table). Each scenario runs N times (default 3) on a fresh data directory; the
# medians are printed. Loopback only; every run is bounded in events and seconds.
#
#   bash benches/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=18181

weir_args=()
source benches/common.sh

scenario() {
  local name=$1
  shift
  for run in $(seq "$runs"); do
    start_weir
    sync
    "$bin/weir-load" --url "$url" --wait-processed "$@" | tee -a "$work/$name.jsonl"
    stop_weir
  done
  python3 - "$name" "$work/$name.jsonl" <<'PY'
import json, statistics, sys
name, path = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(path)]
def median(key):
    values = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(values) if values else float("nan")
print(f"{name}: median of {len(rows)} runs: "
      f"ingest {median('ingest_events_per_s'):,.0f} events/s "
      f"(p50 {median('ingest_p50_ms'):.2f} ms, p99 {median('ingest_p99_ms'):.2f} ms), "
      f"processed end to end {median('processed_events_per_s'):,.0f} events/s, "
      f"errors {sum(r['errors'] for r in rows)}")
PY
}

# The queue without HTTP or plugins; one JSON line per scenario and batch size.
queue_bench() {
  for run in $(seq "$runs"); do
    sync
    "$bin/weir-queue-bench" --dir "$work" | tee -a "$work/queue.jsonl"
  done
  python3 - "$work/queue.jsonl" <<'PY'
import json, statistics, sys
groups = {}
for line in open(sys.argv[1]):
    row = json.loads(line)
    lanes = row.get("tenants", row.get("tenants_per_priority"))
    groups.setdefault((row["scenario"], row.get("batch"), lanes), []).append(row)
for (scenario, batch, lanes), rows in groups.items():
    def median(key):
        values = [r[key] for r in rows if r.get(key) is not None]
        return statistics.median(values) if values else float("nan")
    if scenario == "scheduler":
        print(f"scheduler choice, {lanes} tenants per priority: median of {len(rows)} runs: "
              f"{median('ns_per_dispatch'):.1f} ns per dispatch")
        continue
    unit = "deliveries" if scenario == "dequeue" else "events"
    text = f"queue {scenario}" + (f" batch {batch}" if batch is not None else "")
    text += f" over {lanes} tenants" if lanes is not None else ""
    text += f": median of {len(rows)} runs: {median(unit + '_per_sec'):,.0f} {unit}/s"
    if scenario == "enqueue":
        text += (f" ({median('ratio'):.2f}x raw fjall at the same batch, "
                 f"{rows[0]['concurrency']} submitters)")
    capped = sum(r["capped"] for r in rows)
    if capped:
        text += f", {capped} runs stopped by the time cap"
    print(text)
PY
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
scenario single --events 20000 --batch 1 --concurrency 64
scenario batch --events 50000 --batch 100 --concurrency 8
queue_bench
sync
"$bin/weir-runtime-bench" --runs "$runs"
"$bin/weir-route-bench" --runs "$runs"
