#!/usr/bin/env bash
# The end-to-end targets, each against a figure measured in the same run with
# the same client (weir-load, single events over 64 connections):
#   1. C, the HTTP ceiling: weir-bare-ingest (an axum handler that answers 202
#      without work), 20,000 events;
#   2. R, weir's end-to-end maximum with one trivial Rust plugin (test-ack, a
#      fresh instance per delivery): 20,000 events, until all are committed;
#   3. sustained: 0.3 C offered (open loop) for 60 s, weir_queue_depth sampled
#      every 5 s: the backlog must stay flat;
#   4. latency at half load: 0.5 R offered for 30 s; ingest ack p50 and p99
#      from the client; ingest -> commit from weir's
#      weir_event_latency_seconds histogram: the share committed within 25 ms
#      (a bucket bound) and the bucket the 99th percentile falls in.
# weir and its client share the machine's cores, unpinned. N runs (default
# 3), medians printed. Loopback only; every run is bounded in events and seconds.
#
#   bash benches/sustained.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=18193
source benches/common.sh
mkdir -p "$work/plugins"
cp "$bin/../plugins/wasm32-wasip2/plugin/components/test-ack.wasm" "$work/plugins/"
cat >"$work/weir.toml" <<'TOML'
[[route]]
name = "everything"
match = { type = "booking.*" }
plugins = ["test-ack"]
TOML
weir_args=(--config "$work/weir.toml" --plugins-dir "$work/plugins")
load=("$bin/weir-load" --url "$url" --batch 1 --concurrency 64 --done-by test-ack)

depth() { curl -sf "$url/metrics" | awk '/^weir_queue_depth\{plugin="test-ack"/ {print $2}'; }
# From weir_event_latency_seconds: the share of deliveries committed within
# 25 ms (a bucket bound, so exact), and the bounds (ms) of the bucket that
# holds the 99th percentile, as "share low high".
commit_latency() {
  curl -sf "$url/metrics" | python3 -c '
import re, sys
buckets = {}
for line in sys.stdin:
    if line.startswith("weir_event_latency_seconds_bucket") and "plugin=\"test-ack\"" in line:
        bound = re.search(r"le=\"([^\"]+)\"", line).group(1)
        buckets[float(bound)] = float(line.split()[-1])
bounds = sorted(buckets)
total = buckets[bounds[-1]]
share = buckets[0.025] / total
upper = next(i for i, b in enumerate(bounds) if buckets[b] >= 0.99 * total)
lower = bounds[upper - 1] if upper > 0 else 0.0
print(f"{share:.4f} {lower * 1000:g} {bounds[upper] * 1000:g}")'
}
start_bare() {
  "$bin/weir-bare-ingest" --listen "127.0.0.1:$port" >"$work/bare.log" 2>&1 &
  pid=$!
  wait_ready
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
declare -a ceiling maximum sustained flat ack_p50 ack_p99 commit_p99 within_25ms
for run in $(seq "$runs"); do
  start_bare
  sync
  line=$("${load[@]}" --events 20000)
  ceiling+=("$(field "$line" ingest_events_per_s)")
  stop_weir

  start_weir
  sync
  line=$("${load[@]}" --events 20000 --wait-processed)
  maximum+=("$(field "$line" processed_events_per_s)")
  stop_weir

  rate=$(python3 -c "print(0.3 * ${ceiling[-1]})")
  start_weir
  sync
  "${load[@]}" --rate "$rate" --events "$(python3 -c "print(int($rate * 60))")" --max-seconds 60 \
    >"$work/sustained.json" &
  loader=$!
  samples=()
  while kill -0 "$loader" 2>/dev/null; do
    sleep 5
    samples+=("$(depth)")
  done
  wait "$loader"
  line=$(cat "$work/sustained.json")
  sustained+=("$(field "$line" goodput_events_per_s)")
  # Flat: the depth in the last 20 s never passes a second's worth of the
  # offered rate, so nothing piles up.
  verdict=$(python3 -c "
import sys
late = [float(x) for x in sys.argv[2:]][-4:]
print('flat' if max(late) <= float(sys.argv[1]) else 'growing')" "$rate" "${samples[@]}")
  flat+=("$verdict")
  echo "run $run: sustained at $rate offered: $line; queue depth every 5 s: ${samples[*]} ($verdict)"
  stop_weir

  half=$(python3 -c "print(0.5 * ${maximum[-1]})")
  start_weir
  sync
  line=$("${load[@]}" --rate "$half" --events "$(python3 -c "print(int($half * 30))")" --max-seconds 30)
  ack_p50+=("$(field "$line" ingest_p50_ms)")
  ack_p99+=("$(field "$line" ingest_p99_ms)")
  sleep 1
  read -r share low high <<<"$(commit_latency)"
  within_25ms+=("$share")
  commit_p99+=("$high")
  echo "run $run: half load ($half offered): $line; ingest -> commit: $share within 25 ms, p99 in ($low, $high] ms"
  stop_weir
done
c=$(median "${ceiling[@]}")
r=$(median "${maximum[@]}")
s=$(median "${sustained[@]}")
echo "C, HTTP ceiling: ${ceiling[*]} events/s, median $c"
echo "R, end to end with test-ack: ${maximum[*]} events/s, median $r ($(python3 -c "print(f'{$r / $c:.2f}')") C)"
echo "sustained at 0.3 C for 60 s: goodput ${sustained[*]} events/s, median $s ($(python3 -c "print(f'{$s / $c:.2f}')") C), backlog: ${flat[*]}"
echo "at 0.5 R: ingest ack p50 median $(median "${ack_p50[@]}") ms, p99 median $(median "${ack_p99[@]}") ms; ingest -> commit within 25 ms: ${within_25ms[*]} (the target needs >= 0.99), p99 bucket upper bound median $(median "${commit_p99[@]}") ms"
