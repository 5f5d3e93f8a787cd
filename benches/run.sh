#!/usr/bin/env bash
# Measures weir on this machine: durable ingest (single events, then batches of
# 100) and end-to-end processing through both example plugins; the queue
# against raw fjall on the same disk (weir-queue-bench: a batch and an fsync,
# enqueue through group commit); the plugin runtime (weir-runtime-bench: the
# cost of fuel and epoch interruption, reload latency, start-up); then the
# criterion micro-benchmarks (benches/micro: route match, enqueue, dequeue and
# ack, the scheduler's choice, one delivery, one commit). Each scenario but the
# criterion ones runs N times (default 3) on a fresh data directory, and the
# medians are printed; criterion takes its own samples. Loopback only; every run
# is bounded in events and seconds.
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

# The queue without HTTP or plugins, against raw fjall on the same disk; one
# JSON line per scenario and batch size.
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
    groups.setdefault((row["scenario"], row["batch"]), []).append(row)
for (scenario, batch), rows in groups.items():
    def median(key):
        return statistics.median(r[key] for r in rows)
    text = f"queue {scenario} batch {batch}: median of {len(rows)} runs: {median('events_per_sec'):,.0f} events/s"
    if scenario == "enqueue":
        text += (f" ({median('ratio'):.2f}x raw fjall at the same batch, "
                 f"{rows[0]['concurrency']} submitters)")
    capped = sum(r["capped"] for r in rows)
    if capped:
        text += f", {capped} runs stopped by the time cap"
    print(text)
PY
}

# The criterion micro-benchmarks (benches/micro), then the median time per
# element of each, from criterion's own estimates.
micro_bench() {
  sync
  cargo bench --locked -p weir-bench --bench micro
  python3 - "${CARGO_TARGET_DIR:-target}/criterion" <<'PY'
import json, pathlib, sys
for estimates in sorted(pathlib.Path(sys.argv[1]).glob("**/new/estimates.json")):
    bench = json.loads((estimates.parent / "benchmark.json").read_text())
    median_ns = json.loads(estimates.read_text())["median"]["point_estimate"]
    elements = (bench.get("throughput") or {}).get("Elements", 1)
    print(f"{bench['full_id']}: median {median_ns / elements / 1000:.2f} µs per element")
PY
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
scenario single --events 20000 --batch 1 --concurrency 64
scenario batch --events 50000 --batch 100 --concurrency 8
queue_bench
sync
"$bin/weir-runtime-bench" --runs "$runs"
micro_bench
