#!/usr/bin/env bash
# Peak RSS while a deep backlog piles up behind ten paused plugins: ten copies
# of test-ack, every event routed to all ten, 1,000,000 events posted in
# batches of 100 over 8 connections, so 10,000,000 deliveries wait on disk.
# The same process's idle RSS (plugins loaded, nothing sent) is the baseline.
# N runs (default 3), medians printed. Loopback only; every run is bounded in
# events and seconds.
#
#   bash benches/backlog.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=18194
plugins=10
source benches/common.sh
mkdir -p "$work/plugins"
names=()
for n in $(seq "$plugins"); do
  cp "$bin/../plugins/wasm32-wasip2/plugin/components/test-ack.wasm" "$work/plugins/ack-$n.wasm"
  names+=("\"ack-$n\"")
done
cat >"$work/weir.toml" <<TOML
[ingest]
# Far above the backlog: this run measures memory, not shedding.
backlog_high_water = 100000000
backlog_low_water = 90000000
[[route]]
name = "everything"
match = { type = "booking.*" }
plugins = [$(IFS=,; echo "${names[*]}")]
TOML
weir_args=(--config "$work/weir.toml" --plugins-dir "$work/plugins")
# Plugins load in the background after weir answers: wait (bounded) for all.
wait_plugins() {
  for _ in $(seq 300); do
    loaded=$(curl -sf "$url/v1/plugins" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["plugins"]))')
    if [ "$loaded" = "$plugins" ]; then return; fi
    sleep 0.1
  done
  echo "the $plugins plugins did not load; log:" >&2
  cat "$work/weir.log" >&2
  exit 1
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
declare -a idle peak
for run in $(seq "$runs"); do
  start_weir
  wait_plugins
  for n in $(seq "$plugins"); do
    curl -sf -X POST -H "content-type: application/json" "$url/v1/plugins/ack-$n/pause" >/dev/null
  done
  idle+=("$(rss_kb "$pid")")
  sync
  "$bin/weir-load" --url "$url" --events 1000000 --batch 100 --concurrency 8 --max-seconds 600 \
    --done-by ack-1 >"$work/backlog.json" &
  loader=$!
  top=$(peak_rss_while "$pid" "$loader")
  wait "$loader"
  depth=$(curl -sf "$url/metrics" | awk '/^weir_queue_depth\{/ {sum += $2} END {print sum}')
  echo "run $run: $(cat "$work/backlog.json"), pending deliveries $depth, RSS idle ${idle[-1]} kB, peak ${top} kB"
  peak+=("$top")
  stop_weir
done
echo "RSS with $plugins plugins: idle median $(median "${idle[@]}") kB, peak with a 1,000,000-event backlog (x$plugins deliveries) median $(median "${peak[@]}") kB"
