#!/usr/bin/env bash
# The delivery path alone, without ingest competing for the cores: EVENTS
# events (default 50,000) are stored while their plugin is paused, then the
# plugin is resumed and timed until it has processed every one, with weir's
# CPU time over the same span. Once through test-ack (acks at once) and once
# through test-retry-twice (retry-later(50 ms) twice, then ack), each on a
# fresh weir with the defaults. Prints events/s, server CPU (µs) per event
# and the cores weir used, per run and as medians. Loopback only; every run
# is bounded in events and seconds.
#
#   bash benches/drain.sh [RUNS] [EVENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
events=${2:-50000}
port=18196
source benches/common.sh
use_plugins test-ack test-retry-twice
ticks_per_s=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
post_admin() {
  curl -sf -X POST -H 'Content-Type: application/json' "$url$1" >/dev/null
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
declare -A rates cpus
for run in $(seq "$runs"); do
  for plugin in test-ack test-retry-twice; do
    route_bookings_to "$plugin"
    start_weir
    wait_serving "$plugin"
    post_admin "/v1/plugins/$plugin/pause"
    "$bin/weir-load" --url "$url" --batch 100 --concurrency 8 --events "$events" \
      --max-seconds 120 >/dev/null
    sync
    before=$(cpu_ticks)
    started=$(date +%s.%N)
    post_admin "/v1/plugins/$plugin/resume"
    done_count=0
    for _ in $(seq 3000); do
      done_count=$(metric_sum weir_deliveries_processed_total "$plugin")
      [ "${done_count%.*}" -ge "$events" ] && break
      sleep 0.1
    done
    ended=$(date +%s.%N)
    after=$(cpu_ticks)
    if [ "${done_count%.*}" -lt "$events" ]; then
      echo "run $run: $plugin processed $done_count of $events within the bound" >&2
      exit 1
    fi
    line=$(python3 -c "
n, dt, cpu = $events, $ended - $started, ($after - $before) / $ticks_per_s
print(f'{n / dt:.0f} {cpu / n * 1e6:.1f} {cpu / dt:.2f}')")
    read -r rate us cores <<<"$line"
    echo "run $run: $plugin: $rate events/s, $us µs of server CPU per event, $cores cores"
    rates[$plugin]+="$rate "
    cpus[$plugin]+="$us "
    stop_weir
  done
done
for plugin in test-ack test-retry-twice; do
  # shellcheck disable=SC2086
  echo "$plugin: median $(median ${rates[$plugin]}) events/s, $(median ${cpus[$plugin]}) µs CPU per event (runs: ${rates[$plugin]})"
done
