#!/usr/bin/env bash
# Records moto_server's answers to the compatibility steps as golden files in
# internal/params/testdata/moto. Needs moto_server (pip install 'moto[server]').
set -euo pipefail
cd "$(dirname "$0")/.."
command -v moto_server >/dev/null || { echo "moto_server is not installed: pip install 'moto[server]'" >&2; exit 1; }
go test -count=1 ./internal/params -run TestCompatWithMoto -record-moto
git status --short internal/params/testdata/moto
