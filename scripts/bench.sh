#!/usr/bin/env bash
# Runs every benchmark scenario against its peer on the test bed, at least 5
# repetitions each, and writes BENCHMARKS.md's generated section and
# bench-results/bench.json. Needs root (the test bed). Takes about 10 minutes.
# Options go to cmd/jetway-bench (--reps N, --only 1,3, --dep-rounds N).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
go run ./cmd/jetway-bench "$@"
