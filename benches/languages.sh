#!/usr/bin/env bash
# The booking normalizer in Rust, Python, JavaScript and C: compile time on an
# empty cache and from the cache, and the cost of one delivery, each run N
# times (default 3), medians printed. Builds the Python, JavaScript and C
# examples with `weir plugin build` first (componentize-py and ziglang from
# tests/requirements.txt; componentize-js from `npm ci --prefix
# plugins/booking-normalizer-js`). In process, no network.
#
#   bash benches/languages.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked -p weir -p weir-bench
bin="$CARGO_TARGET_DIR/release"
for plugin in booking-normalizer-py booking-normalizer-js booking-normalizer-c; do
  "$bin/weir" plugin build "plugins/$plugin" >/dev/null
done
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
sync
summary=$(cat <<'PY'
import json, sys
rows = [json.loads(line) for line in sys.stdin]
rust = next(r for r in rows if r["language"] == "rust")
for r in rows:
    ratio = r["median_us_per_delivery"] / rust["median_us_per_delivery"]
    print(f"{r['language']:>10}: {r['size_bytes'] / 1e6:5.1f} MB, "
          f"compile {r['median_compile_cold_s']:5.2f} s cold, {r['median_compile_cached_ms']:6.1f} ms cached; "
          f"{r['median_us_per_delivery']:8.0f} us per delivery ({ratio:.0f}x Rust), {r['fuel_per_delivery']:,} fuel")
PY
)
"$bin/weir-runtime-bench" --scenarios languages --runs "$runs" | tee /dev/stderr | python3 -c "$summary"
