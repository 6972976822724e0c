#!/usr/bin/env bash
# Cross-compiles the jetway client for every system it ships for, and the
# client packages' tests for macOS and Windows (compiled, not run: CI runs
# on Linux). Build only: cheap enough for every CI run (about a minute cold,
# seconds with a warm build cache). scripts/test.sh runs it.
#
# The client is the one binary; on macOS and Windows its server, agent and
# runner-exec commands say they need Linux (see internal/cli's
# needslinux_other.go). Packages whose tests start the Linux test bed
# (internal/testbed: dockerd, sshd, namespaces) have those test files
# tagged linux; the rest of their tests compile here.
set -euo pipefail
cd "$(dirname "$0")/.."

# scripts/release.sh ships the same targets.
targets=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)
# What a laptop's jetway links and tests of its own: the commands, the
# project file, bundles, the API client, the masker, `jetway run`'s sandbox.
client_pkgs=(./internal/api ./internal/apiclient ./internal/bundle ./internal/cli ./internal/config
  ./internal/executor ./internal/mask ./internal/resolve ./internal/sandbox)

export CGO_ENABLED=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in "${targets[@]}"; do
  echo "cross: go build ./cmd/jetway for $t" >&2
  GOOS=${t%/*} GOARCH=${t#*/} go build -o "$out/jetway-${t/\//-}" ./cmd/jetway
done
for goos in darwin windows; do
  echo "cross: go vet and go test -c of the client packages for $goos/amd64" >&2
  GOOS=$goos GOARCH=amd64 go vet "${client_pkgs[@]}"
  mkdir -p "$out/test-$goos"
  GOOS=$goos GOARCH=amd64 go test -c -o "$out/test-$goos/" "${client_pkgs[@]}" >/dev/null
done
echo "cross: ok" >&2
