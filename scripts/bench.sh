#!/usr/bin/env bash
# Runs every benchmark scenario against its peer on the test bed, at least 5
# repetitions each, and writes BENCHMARKS.md's generated section and
# bench-results/bench.json. Needs root (the test bed). Takes about 30
# minutes, half of it the runner agents' scenarios (7: dispatch latency, 8:
# scale-out) and the PostgreSQL queue (11). Options go to cmd/jetway-bench:
# --reps N, --only 7,8 (the other scenarios keep their last figures),
# --dep-rounds N, --dispatch-runs N, --traced-runs N, --scale-runs N,
# --scale-reps N, --scale-agents 1,2,4, --replica-runs N, --replica-reps N.
# Scenario 13 is the Docker guard against a plain proxy (issue 20); 14 and 15
# the Docker host pool: affinity vs a random host, and spill to a cold host;
# 16 the CPU of one trivial run against one `docker version` (issue 28,
# --cost-runs N).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
go run ./cmd/jetway-bench "$@"
