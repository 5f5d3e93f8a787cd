#!/usr/bin/env bash
# Measures weir under overload and with a deep backlog, N runs each (default 3),
# medians printed:
#   1. the sustainable rate R: 20,000 events in batches of 100, processed end to
#      end through both example plugins;
#   2. goodput (events processed end to end per second while the load is on) and
#      p99 ingest latency of accepted requests, with R, 2R and 10R offered for 30 s
#      (open loop, batches of 10), and ingest's high-water mark at 20,000
#      deliveries so that weir sheds; once with clients that ignore
#      Retry-After (they keep sending) and once with clients that honour it.
#      Goodput at R offered is the sustained rate S: what weir keeps up with
#      under the same client shape as the overload runs (R itself is a burst
#      that weir drains with nothing else to do);
#   3. peak RSS while 1,000,000 events pile up behind paused plugins.
# On a machine with two cores or more, weir runs on core 0 and the load
# generator on core 1 (taskset), for R as for the overload runs, so that the
# ratio measures weir's shedding rather than a fight for the CPU with its client.
# Loopback only; every run is bounded in events and seconds.
#
#   bash benches/overload.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=18182

load_prefix=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  weir_prefix=(taskset -c 0)
  load_prefix=(taskset -c 1)
fi
source benches/common.sh
# The example components, from a plugin directory of the script's own.
weir_args=(--config "$work/weir.toml" --plugins-dir "$work/plugins")

# The example routes, with ingest's marks set for the scenario.
write_config() {
  cat >"$work/weir.toml" <<TOML
[ingest]
backlog_high_water = $1
backlog_low_water = $(($1 * 9 / 10))
$example_routes
TOML
}



# weir installs its bundled example components only into its default plugin
# directory; this script points it elsewhere, so copy them there once.
prepare_plugins() {
  local dir="$work/examples"
  "$bin/weir" serve --listen "127.0.0.1:$port" --data-dir "$dir" >"$work/weir.log" 2>&1 &
  pid=$!
  wait_ready
  stop_weir
  mkdir -p "$work/plugins"
  cp "$dir/plugins/"*.wasm "$work/plugins/"
}


echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); weir under: ${weir_prefix[*]:-nothing}, load under: ${load_prefix[*]:-nothing}"
prepare_plugins
declare -a sustainable rss_idle rss_backlog
declare -A goodput p99 shed
for run in $(seq "$runs"); do
  write_config 20000
  start_weir
  sync
  line=$("${load_prefix[@]}" "$bin/weir-load" --url "$url" --events 20000 --batch 100 --concurrency 8 --wait-processed)
  rate=$(field "$line" processed_events_per_s)
  sustainable+=("$rate")
  stop_weir
  for factor in 1 2 10; do
    for clients in ignore honor; do
      # At R offered there is little to shed: one kind of client is enough.
      if [ "$factor" = 1 ] && [ "$clients" = honor ]; then continue; fi
      polite=()
      [ "$clients" = honor ] && polite=(--honor-retry-after)
      start_weir
      sync
      offered=$(python3 -c "print($rate * $factor)")
      events=$(python3 -c "print(int($rate * $factor * 30))")
      line=$("${load_prefix[@]}" "$bin/weir-load" --url "$url" --events "$events" --batch 10 --concurrency 64 \
        --rate "$offered" --max-seconds 30 "${polite[@]}")
      echo "overload ${factor}x, clients that ${clients} Retry-After: $line"
      scenario="${factor}x-${clients}"
      goodput[$scenario]+=" $(field "$line" goodput_events_per_s)"
      p99[$scenario]+=" $(field "$line" ingest_p99_ms)"
      shed[$scenario]+=" $(field "$line" errors)"
      stop_weir
    done
  done
  # A deep backlog: plugins paused, a million events in.
  write_config 3000000
  start_weir
  curl -sf -X POST -H "content-type: application/json" "$url/v1/plugins/booking-normalizer/pause" >/dev/null
  curl -sf -X POST -H "content-type: application/json" "$url/v1/plugins/price-calculator/pause" >/dev/null
  rss_idle+=("$(rss_kb "$pid")")
  "${load_prefix[@]}" "$bin/weir-load" --url "$url" --events 1000000 --batch 100 --concurrency 8 --max-seconds 300 \
    >"$work/backlog.json" &
  loader=$!
  peak=$(peak_rss_while "$pid" "$loader")
  wait "$loader"
  echo "backlog: $(cat "$work/backlog.json"), peak RSS ${peak} kB"
  rss_backlog+=("$peak")
  stop_weir
done
echo "sustainable end to end: median $(median "${sustainable[@]}") events/s"
# Unquoted on purpose below: each entry is a space-separated list of runs.
# shellcheck disable=SC2086
sustained=$(median ${goodput[1x-ignore]})
for scenario in 1x-ignore 2x-ignore 2x-honor 10x-ignore 10x-honor; do
  # shellcheck disable=SC2086
  good=$(median ${goodput[$scenario]})
  # shellcheck disable=SC2086
  echo "$scenario: goodput median $good events/s ($(python3 -c "print(f'{$good / $(median "${sustainable[@]}"):.2f} R, {$good / $sustained:.2f} S')")), p99 accepted $(median ${p99[$scenario]}) ms, shed requests $(median ${shed[$scenario]})"
done
echo "RSS: idle median $(median "${rss_idle[@]}") kB, peak with a 1,000,000-event backlog median $(median "${rss_backlog[@]}") kB"
