#!/usr/bin/env bash
# Two weir binaries against each other, interleaved: single-event durable
# ingest (20,000 events, c=64, a fresh data directory each run), alternating
# BEFORE and AFTER for ROUNDS rounds (default 5), so that a machine that
# drifts during the run slows both alike. The scripted before/after pairs
# run one build after the other, and on a shared machine that order alone
# has shown a 20 % gap that interleaving did not. MODE `ingest` (the
# default) routes to no plugin and rates the ingest; `end-to-end` routes
# every event to test-ack and rates the events processed, as R in
# sustained.sh; `batches` routes to no plugin and sends 400,000 events in
# batches of 100 at c=8, as ingest.sh's batched half. Loopback only; every run is bounded in events and seconds.
#
#   bash benches/ab_ingest.sh BEFORE_BINARY AFTER_BINARY [ROUNDS] [MODE]
#
# Keep a copy of each build's `target/release/weir` to compare them: a build
# of another commit in the same target directory replaces it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  echo "usage: bash benches/ab_ingest.sh BEFORE_BINARY AFTER_BINARY [ROUNDS] [MODE]" >&2
  exit 2
fi
before=$(realpath "$1")
after=$(realpath "$2")
rounds=${3:-5}
mode=${4:-ingest}
port=18185
source benches/common.sh
load=("$bin/weir-load" --url "$url" --events 20000 --batch 1 --concurrency 64 --max-seconds 120)
case "$mode" in
  ingest | batches)
    printf '[routing]\nunmatched = "keep"\n[[route]]\nname = "none"\nmatch = { type = "never.sent" }\nplugins = ["booking-normalizer"]\n' >"$work/weir.toml"
    weir_args=(--config "$work/weir.toml")
    rate=ingest_events_per_s
    if [ "$mode" = batches ]; then
      load=("$bin/weir-load" --url "$url" --events 400000 --batch 100 --concurrency 8 --max-seconds 120)
    fi
    ;;
  end-to-end)
    mkdir -p "$work/plugins"
    cp "$bin/../plugins/wasm32-wasip2/plugin/components/test-ack.wasm" "$work/plugins/"
    printf '[[route]]\nname = "everything"\nmatch = { type = "booking.*" }\nplugins = ["test-ack"]\n' >"$work/weir.toml"
    weir_args=(--config "$work/weir.toml" --plugins-dir "$work/plugins")
    load+=(--done-by test-ack --wait-processed)
    rate=processed_events_per_s
    ;;
  *)
    echo "MODE is ingest, batches or end-to-end, not $mode" >&2
    exit 2
    ;;
esac
for round in $(seq "$rounds"); do
  for which in before after; do
    bin_of=$before
    if [ "$which" = after ]; then bin_of=$after; fi
    # start_weir runs "$bin/weir": point it at this build for the run.
    ln -sf "$bin_of" "$work/weir"
    bin="$work" start_weir
    sync
    report=$("${load[@]}")
    usage=$(server_usage)
    stop_weir
    echo "{\"round\":$round,\"build\":\"$which\",$usage,${report#\{}" | tee -a "$work/ab.jsonl"
  done
done
python3 - "$work/ab.jsonl" "$rate" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
for build in ("before", "after"):
    mine = [r for r in rows if r["build"] == build]
    rates = [r[sys.argv[2]] for r in mine]
    cpu = [r["server_cpu_s"] / r["events"] * 1e6 for r in mine]
    print(f"{build}: runs {', '.join(f'{v:,.0f}' for v in rates)} events/s; median "
          f"{statistics.median(rates):,.0f}, server CPU median {statistics.median(cpu):.1f} µs/event")
PY
