#!/usr/bin/env bash
# Durable ingest against its ceiling and its rival: the same client (weir-load)
# sends the same events to weir (fsync before every 202, no plugins routed, so
# only ingest runs), to weir-bare-ingest (an axum handler that reads the body
# and answers 202: the HTTP ceiling), and to Redis (each event XADDed to a
# stream, `appendfsync always`, one connection per client thread; a batch is
# one pipelined write; Debian's redis-server). Single events over 64
# connections, then batches of 100 over 8. For the batches, raw fjall is the
# storage ceiling: weir-queue-bench writes the same number of events to one
# keyspace in batches of weir's mean group commit (read from its
# weir_group_commit_events histogram in the same run), an fsync after each.
# The servers alternate, N runs each (default 3); medians and the ratios are
# printed. Loopback only; every run is bounded in events and seconds.
#
#   bash benches/ingest.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
port=18183
redis_port=18184

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "ingest.sh measures Redis too: install it first (Debian: apt-get install redis-server)" >&2
  exit 1
fi
source benches/common.sh
# No routes: events are stored durably and nothing else runs.
printf '[routing]\nunmatched = "keep"\n[[route]]\nname = "none"\nmatch = { type = "never.sent" }\nplugins = ["booking-normalizer"]\n' >"$work/weir.toml"
weir_args=(--config "$work/weir.toml")

start_bare() {
  "$bin/weir-bare-ingest" --listen "127.0.0.1:$port" >"$work/bare.log" 2>&1 &
  pid=$!
  wait_ready
}

start_redis() {
  rm -rf "$work/redis"
  mkdir -p "$work/redis"
  redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --save '' \
    --appendonly yes --appendfsync always >"$work/redis.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then return; fi
    sleep 0.1
  done
  echo "redis-server did not start; log:" >&2
  cat "$work/redis.log" >&2
  exit 1
}

# The mean events per group commit of the weir at $url, rounded.
group_size() {
  curl -sf "$url/metrics" | awk '/^weir_group_commit_events_sum/ {s = $2}
    /^weir_group_commit_events_count/ {c = $2}
    END {printf "%d", (c > 0 ? s / c + 0.5 : 1)}'
}

# Raw fjall, $1 events in batches of $group: one JSON row like weir-load's.
raw_fjall() {
  "$bin/weir-queue-bench" --dir "$work" --raw-only --batches "$group" --events "$1" \
    | python3 -c 'import json, sys
r = json.loads(sys.stdin.readline())
print(json.dumps({"server": "fjall", "batch": r["batch"], "ingest_events_per_s": r["events_per_sec"]}))'
}

# measure NAME SERVERS WEIR-LOAD-ARGS...: each of SERVERS (bare, weir, redis,
# fjall; fjall after weir) in turn, N times.
measure() {
  local name=$1 servers=$2
  shift 2
  for run in $(seq "$runs"); do
    for server in $servers; do
      if [ "$server" = fjall ]; then
        sync
        raw_fjall 50000 | tee -a "$work/$name.jsonl"
        continue
      fi
      target=$url
      case $server in
        bare) start_bare ;;
        weir) start_weir ;;
        redis) start_redis; target="redis://127.0.0.1:$redis_port" ;;
      esac
      sync
      report=$("$bin/weir-load" --url "$target" "$@")
      if [ "$server" = weir ]; then group=$(group_size); fi
      echo "$report" | sed "s/^{/{\"server\":\"$server\",$(server_usage),/" | tee -a "$work/$name.jsonl"
      stop_weir
    done
  done
  python3 - "$name" "$work/$name.jsonl" <<'PY'
import json, statistics, sys
name, path = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(path)]
median = {}
for server in dict.fromkeys(r["server"] for r in rows):
    mine = [r for r in rows if r["server"] == server]
    runs = [r["ingest_events_per_s"] for r in mine]
    median[server] = statistics.median(runs)
    text = f"{name} {server}: runs {', '.join(f'{v:,.0f}' for v in runs)} events/s; median {median[server]:,.0f}"
    if server == "fjall":
        print(f"{text} (batches of {', '.join(str(r['batch']) for r in mine)}, an fsync each)")
        continue
    p50 = statistics.median(r["ingest_p50_ms"] for r in mine)
    p99 = statistics.median(r["ingest_p99_ms"] for r in mine)
    rss = statistics.median(r["server_peak_rss_kib"] for r in mine) / 1024
    cpu = statistics.median(r["server_cpu_s"] / r["events"] * 1e6 for r in mine)
    errors = sum(r["errors"] for r in mine)
    print(f"{text} (p50 {p50:.2f} ms, p99 {p99:.2f} ms), "
          f"server peak RSS {rss:.0f} MiB, server CPU {cpu:.1f} µs/event, errors {errors}")
print(f"{name}: " + ", ".join(f"weir / {other} = {median['weir'] / median[other]:.2f}"
                              for other in median if other != "weir"))
PY
}

measure single "bare weir redis" --events 20000 --batch 1 --concurrency 64
measure batch-100 "bare weir fjall redis" --events 50000 --batch 100 --concurrency 8
