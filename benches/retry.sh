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
use_plugins test-ack test-retry-twice

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
declare -a ack retry trips
for run in $(seq "$runs"); do
  for plugin in test-ack test-retry-twice; do
    route_bookings_to "$plugin"
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
