#!/usr/bin/env bash
# Run every benchmark under bench/ in turn, printing their figures.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
for b in bench/bench_*.py; do
  echo "=== $b"
  .venv/bin/python "$b" || echo "!!! $b failed"
done
