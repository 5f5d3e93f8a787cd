#!/usr/bin/env bash
# A throttled downstream slows weir down, it does not stop it: the throughput
# of test-retry-twice (every delivery answers retry-later(50 ms) twice, then
# acks) against test-ack (acks at once) in the same run, each on a fresh weir
# with the same settings (the defaults), sent the same EVENTS events (default
# 100,000: with 20,000, test-ack is done in about a second, and the run
# measures start-up and the retries' last backoffs, not throughput) over 64
# connections and timed from the first request until its plugin
# has processed every one (weir-load --wait-processed, bounded). The target:
# the retry plugin keeps at least half test-ack's throughput, and its breaker
# never opens (weir_breaker_trips_total, every reason, stays 0). weir and its
# client share the machine's cores, unpinned. N runs (default 3), medians
# printed. Loopback only; every run is bounded in events and seconds.
#
#   bash benches/retry.sh [RUNS] [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
events=${2:-100000}
port=18195
source benches/common.sh
mkdir -p "$work/plugins"
for plugin in test-ack test-retry-twice; do
  cp "$bin/../plugins/wasm32-wasip2/plugin/components/$plugin.wasm" "$work/plugins/"
done
weir_args=(--config "$work/weir.toml" --plugins-dir "$work/plugins")

field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
median() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 2))' "$@"; }
# The sum of the samples of metric $1 for plugin $2, every other label included.
metric_sum() {
  curl -sf "$url/metrics" | awk -v name="$1" -v plugin="plugin=\"$2\"" \
    'index($0, name "{") == 1 && index($0, plugin) { sum += $NF } END { print sum + 0 }'
}
# Routes every booking to plugin $1 alone; both plugins are loaded either way.
write_config() {
  cat >"$work/weir.toml" <<TOML
[[route]]
name = "bookings"
match = { type = "booking.*" }
plugins = ["$1"]
TOML
}
# Plugins load in the background after weir answers: wait (bounded) for $1.
wait_serving() {
  for _ in $(seq 300); do
    if curl -sf "$url/v1/plugins" | python3 -c '
import json, sys
plugins = json.load(sys.stdin)["plugins"]
sys.exit(0 if any(p["name"] == sys.argv[1] and p["state"] == "serving" for p in plugins) else 1)' "$1"; then
      return
    fi
    sleep 0.1
  done
  echo "$1 did not load; log:" >&2
  cat "$work/weir.log" >&2
  exit 1
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
declare -a ack retry trips
for run in $(seq "$runs"); do
  for plugin in test-ack test-retry-twice; do
    write_config "$plugin"
    start_weir
    wait_serving "$plugin"
    sync
    line=$("$bin/weir-load" --url "$url" --batch 1 --concurrency 64 --events "$events" \
      --max-seconds 300 --wait-processed --done-by "$plugin")
    rate=$(field "$line" processed_events_per_s)
    tripped=$(metric_sum weir_breaker_trips_total "$plugin")
    retried=$(metric_sum weir_deliveries_retried_total "$plugin")
    limit=$(metric_sum weir_concurrency_limit "$plugin")
    echo "run $run: $plugin: $rate events/s processed, $retried retries, breaker trips $tripped, concurrency limit at the end $limit; $line"
    if [ "$plugin" = test-ack ]; then
      ack+=("$rate")
    else
      retry+=("$rate")
      trips+=("$tripped")
    fi
    stop_weir
  done
done
a=$(median "${ack[@]}")
r=$(median "${retry[@]}")
echo "test-ack: ${ack[*]} events/s, median $a"
echo "test-retry-twice: ${retry[*]} events/s, median $r ($(python3 -c "print(f'{$r / $a:.2f}')") of test-ack; the target is >= 0.5)"
echo "breaker trips of test-retry-twice per run: ${trips[*]} (the target is 0)"
