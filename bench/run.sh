#!/usr/bin/env bash
# The benchmark in one command (see BENCHMARKS.md):
#   bench/run.sh            full run (~5 min): 2 passes x systems A, B, C x 3 workloads, release build
#   bench/run.sh --smoke    a few seconds per system, debug build: checks the harness still works (CI)
# Any other argument goes to bench/bench.py (--systems "A B", --duration 20, --concurrency 32, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"

if [[ " $* " == *" --smoke "* ]]; then
  profile=debug
  cargo build --locked --quiet --bin ds-subgraph --example loadgen
else
  profile=release
  cargo build --locked --quiet --release --bin ds-subgraph --example loadgen
  # The chart is drawn with matplotlib when it can be had; the tables do not need it.
  python3 -c 'import matplotlib' 2>/dev/null || python3 -m pip install --quiet matplotlib \
    || echo "bench: matplotlib unavailable, the report will have no chart" >&2
fi

exec python3 bench/bench.py --bin "$target/$profile/ds-subgraph" \
  --loadgen "$target/$profile/examples/loadgen" "$@"
