#!/usr/bin/env bash
# jetway demo: a fresh "runner" talks to a persistent remote Docker host over
# ssh and reuses its layer cache. Starts the test bed (a remote host with
# sshd + dockerd in a network namespace), checks the host, then builds
# examples/hello twice through jetway's proxy: cold, then warm.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

mkdir -p bin
go build -o bin/jetway ./cmd/jetway
go build -o bin/jetway-testbed ./cmd/jetway-testbed

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Starting the test bed (remote Docker host over ssh, local dockerd, registry)"
eval "$(bin/jetway-testbed up --env)"
runner_home=$(mktemp -d /tmp/jetway-demo-home.XXXXXX)
proxy_pid=
cleanup() {
  [ -n "$proxy_pid" ] && kill "$proxy_pid" 2>/dev/null && wait "$proxy_pid" 2>/dev/null || true
  rm -rf "$runner_home"
  bin/jetway-testbed down "$TB_DIR" >/dev/null
}
trap cleanup EXIT

step "Bootstrapping a fresh runner home from JETS_SSH_KEY and JETS_SSH_KNOWN"
# A runner gets these from the parameter store; here the bed made them.
JETS_SSH_KEY=$(cat "$TB_CLIENT_KEY")
JETS_SSH_KNOWN=$(cat "$TB_KNOWN_HOSTS")
install -d -m 700 "$runner_home/.ssh"
printf '%s\n' "$JETS_SSH_KEY" > "$runner_home/.ssh/id_rsa" && chmod 600 "$runner_home/.ssh/id_rsa"
printf '%s\n' "$JETS_SSH_KNOWN" >> "$runner_home/.ssh/known_hosts"
export HOME=$runner_home DOCKER_HOST=$TB_DOCKER_HOST
echo "HOME=$HOME"
echo "DOCKER_HOST=$DOCKER_HOST"

step "jetway dockerhost check"
bin/jetway dockerhost check

step "jetway dockerhost proxy: one SSH connection for every docker command"
sock=$runner_home/docker.sock
bin/jetway dockerhost proxy --listen "unix://$sock" &
proxy_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
export DOCKER_HOST=unix://$sock

build() {
  local start end
  start=$(date +%s.%N)
  docker build -t "hello:demo" --build-arg "BASE=$TB_BASE_IMAGE" examples/hello 2>&1 | grep -E '^Step|Using cache|Successfully built'
  end=$(date +%s.%N)
  echo "$1 build took $(echo "$end - $start" | bc 2>/dev/null || awk "BEGIN{print $end-$start}") s"
}
step "Build 1 (cold: the remote host has never built this project)"
build cold
step "Change the app source, as the next commit would"
echo 'echo "changed at '"$(date +%T)"'"' >> examples/hello/app.sh
trap 'git checkout -q examples/hello/app.sh 2>/dev/null || true; cleanup' EXIT
step "Build 2 (warm: a new runner, the same remote host; the dependency layer is cached)"
build warm

step "The image is on the remote host, not on this machine"
docker run --rm hello:demo
docker volume ls --filter "name=$TB_REMOTE_MARKER" --format 'remote-only marker volume: {{.Name}}'
