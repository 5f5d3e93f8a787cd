# Shared by the benchmark scripts (sourced, not run): the release build, a
# scratch directory removed on exit, and starting and stopping weir on $port.
# The caller sets `port` and, to start weir, the array `weir_args` (and may set
# `weir_prefix`, a command such as `taskset -c 0` to run weir under).

cargo build --release --locked -p weir -p weir-bench
# The example pipeline's routes, as a config file writes them.
example_routes=$(cat deploy/example-routes.toml)
bin="${CARGO_TARGET_DIR:-target}/release"
url="http://127.0.0.1:$port"
work=$(mktemp -d)
pid=""
weir_prefix=("${weir_prefix[@]+"${weir_prefix[@]}"}")
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Waits (bounded) until the weir at $url is ready; exits with its log if not.
wait_ready() {
  for _ in $(seq 600); do
    if curl -sf "$url/readyz" >/dev/null; then return; fi
    sleep 0.1
  done
  echo "weir did not start; log:" >&2
  cat "$work/weir.log" >&2
  exit 1
}

# Starts weir on a fresh data directory with "${weir_args[@]}".
start_weir() {
  rm -rf "$work/data"
  mkdir -p "$work/data"
  "${weir_prefix[@]}" "$bin/weir" serve --listen "127.0.0.1:$port" --data-dir "$work/data" "${weir_args[@]}" \
    >"$work/weir.log" 2>&1 &
  pid=$!
  wait_ready
}

# The JSON fields of the server ($pid)'s peak RSS (KiB) and CPU time so far;
# read before stopping it.
server_usage() {
  local hwm ticks
  hwm=$(awk '/^VmHWM:/{print $2}' "/proc/$pid/status")
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  echo "\"server_peak_rss_kib\":$hwm,\"server_cpu_s\":$(awk "BEGIN{print $ticks / $(getconf CLK_TCK)}")"
}

# The resident set (KiB) of process $1 now.
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# The peak resident set (KiB) of process $1 while process $2 runs, sampled
# every second.
peak_rss_while() {
  local top=0 now
  while kill -0 "$2" 2>/dev/null; do
    now=$(rss_kb "$1")
    [ "$now" -gt "$top" ] && top=$now
    sleep 1
  done
  echo "$top"
}

stop_weir() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}

# Field $2 of the JSON object $1 (a line weir-load printed).
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
# The median of the arguments, to two decimals.
median() { python3 -c 'import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 2))' "$@"; }
# The sum of the samples of metric $1 for plugin $2, every other label included.
metric_sum() {
  curl -sf "$url/metrics" | awk -v name="$1" -v plugin="plugin=\"$2\"" \
    'index($0, name "{") == 1 && index($0, plugin) { sum += $NF } END { print sum + 0 }'
}
# Writes $work/weir.toml routing every booking to plugin $1 alone.
route_bookings_to() {
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
# Copies the test plugins named into $work/plugins, and points weir at them
# and at $work/weir.toml.
use_plugins() {
  mkdir -p "$work/plugins"
  for plugin in "$@"; do
    cp "$bin/../plugins/wasm32-wasip2/plugin/components/$plugin.wasm" "$work/plugins/"
  done
  weir_args=(--config "$work/weir.toml" --plugins-dir "$work/plugins")
}
