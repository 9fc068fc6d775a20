#!/usr/bin/env bash
# Performance check of the offline verifier: verify a 1,000,000-record evidence package.
#   verifier/perf.sh [RECORDS] [DIR]
# Builds the release binary and the generator, generates the package once (it is kept in
# DIR, default /tmp/evidence-package-RECORDS), then times `ledger-verify package`
# (wall-clock and CPU time). Run it on an otherwise idle machine: the target is 30 s on
# two cores, and other processes competing for them inflate the wall-clock time.
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-1000000}"
dir="${2:-/tmp/evidence-package-$records}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/evidence-ledger-target}"
cargo build --release -p verifier --bin ledger-verify --example gen_package
if [ ! -f "$dir/package.json" ]; then
  rm -rf "$dir"
  "$CARGO_TARGET_DIR/release/examples/gen_package" --records "$records" "$dir"
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
TIMEFORMAT='wall %R s, user %U s, sys %S s'
time "$CARGO_TARGET_DIR/release/ledger-verify" package "$dir" --key "@$dir.vkey" \
  --block-headers "$dir.headers.txt" > "$dir.report.txt"
tail -n 3 "$dir.report.txt"
