#!/usr/bin/env bash
# Runs every jetway test: unit tests and integration tests against real
# dockerd, sshd and registry processes (the test bed). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export CI=${CI:-true}   # integration tests fail instead of skipping
# No build output or other large file committed by mistake.
bash .ci/check-large-files
go vet ./...
# The client builds for every release target, and its tests compile for
# macOS and Windows (build only; see the script).
bash scripts/cross.sh
# The alert rules shipped for operators, against their unit tests.
promtool test rules deploy/prometheus/alerts_test.yml
# staticcheck, pinned, fetched through the Go module proxy.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# Packages run one at a time: each starts its own test bed (two dockerds),
# and two cores are faster at one of them than at several. With the race
# detector throughout: the tests exercise the concurrent paths (event
# uploads, log streams, the masker's writers) that a race would break. It
# makes CPU-bound tests 3 to 12 times slower (the unit packages: 25 s ->
# 80 s in all, internal/build's swap race 3 s -> 40 s). The timeout is per
# package: a hung one fails after 10 minutes instead of holding CI.
go test -race -count=1 -p 1 -timeout 10m ./...
# The masker's fuzz test, for a bounded time on top of its seed corpus.
go test -run '^$' -fuzz FuzzMask -fuzztime 20s ./internal/mask/
# …and the runner's whole log chain (the writers between a phase and the log).
go test -run '^$' -fuzz FuzzMaskChain -fuzztime 20s ./internal/runner/
