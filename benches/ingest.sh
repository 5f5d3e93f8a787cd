#!/usr/bin/env bash
# Durable ingest against its ceiling: the same client (weir-load) posts the same
# events to weir (fsync before every 202, no plugins routed, so only ingest
# runs) and to weir-bare-ingest (an axum handler that reads the body and answers
# 202). Single events over 64 connections, then batches of 100 over 8; the two
# servers alternate, N runs each (default 3); medians and their ratio are
# printed. Loopback only; every run is bounded in events and seconds.
#
#   bash benches/ingest.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=18183

source benches/common.sh
# No routes: events are stored durably and nothing else runs.
printf '[routing]\nunmatched = "keep"\n[[route]]\nname = "none"\nmatch = { type = "never.sent" }\nplugins = ["booking-normalizer"]\n' >"$work/weir.toml"
weir_args=(--config "$work/weir.toml")

start_bare() {
  "$bin/weir-bare-ingest" --listen "127.0.0.1:$port" >"$work/bare.log" 2>&1 &
  pid=$!
  wait_ready
}

measure() {
  local name=$1
  shift
  for run in $(seq "$runs"); do
    for server in bare weir; do
      if [ "$server" = bare ]; then start_bare; else start_weir; fi
      sync
      "$bin/weir-load" --url "$url" "$@" | sed "s/^{/{\"server\":\"$server\",/" | tee -a "$work/$name.jsonl"
      stop_weir
    done
  done
  python3 - "$name" "$work/$name.jsonl" <<'PY'
import json, statistics, sys
name, path = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(path)]
median = {}
for server in ("bare", "weir"):
    runs = [r["ingest_events_per_s"] for r in rows if r["server"] == server]
    median[server] = statistics.median(runs)
    p50 = statistics.median(r["ingest_p50_ms"] for r in rows if r["server"] == server)
    errors = sum(r["errors"] for r in rows if r["server"] == server)
    print(f"{name} {server}: runs {', '.join(f'{v:,.0f}' for v in runs)} events/s; "
          f"median {median[server]:,.0f} (p50 {p50:.2f} ms), errors {errors}")
print(f"{name}: weir / bare = {median['weir'] / median['bare']:.2f}")
PY
}

measure single --events 20000 --batch 1 --concurrency 64
measure batch-100 --events 50000 --batch 100 --concurrency 8
