#!/usr/bin/env bash
# Runs every jetway test: unit tests and integration tests against real
# dockerd, sshd and registry processes (the test bed). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export CI=${CI:-true}   # integration tests fail instead of skipping
go vet ./...
# staticcheck, pinned, fetched through the Go module proxy.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# Packages run one at a time: each starts its own test bed (two dockerds),
# and two cores are faster at one of them than at several.
go test -count=1 -p 1 -timeout 15m ./...
# The masker's fuzz test, for a bounded time on top of its seed corpus.
go test -run '^$' -fuzz FuzzMask -fuzztime 20s ./internal/mask/
