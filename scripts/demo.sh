#!/usr/bin/env bash
# jetway demo: deploys on fresh, throw-away runners reuse the layer cache of a
# persistent remote Docker host reached over ssh. Starts the test bed (a
# remote host with sshd + dockerd in a network namespace, a registry), a
# jetway server with its parameter store and run queue, stores the ssh key,
# known_hosts and registry password as SecureString parameters, then runs
# `jetway deploy examples/hello` twice: cold, then warm after a change.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says how long the one before it took, and the end sums them up.
step_name= step_start= timings=()
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
step_end() {
  [ -z "$step_name" ] && return
  local ms=$(( $(now_ms) - step_start ))
  timings+=("$(printf '%8d ms  %s' "$ms" "$step_name")")
  printf '\033[2m    (%d.%03d s)\033[0m\n' $((ms / 1000)) $((ms % 1000))
}
step() { step_end; step_name=$*; step_start=$(now_ms); printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Installing what the demo uses (Debian packages, Go when too old)"
JETWAY_SETUP=demo source scripts/setup.sh

step "Building jetway and jetway-testbed"
mkdir -p bin
go build -o bin/jetway ./cmd/jetway
go build -o bin/jetway-testbed ./cmd/jetway-testbed
jetway=$PWD/bin/jetway

step "Starting the test bed (remote Docker host over ssh, registry with htpasswd)"
# --bridged: a remote dockerd with a bridge network, for BuildKit's RUN steps.
eval "$(bin/jetway-testbed up --env --bridged)"
work=$(mktemp -d /tmp/jetway-demo.XXXXXX)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
  bin/jetway-testbed down "$TB_DIR" >/dev/null
}
trap cleanup EXIT
echo "remote Docker host: $TB_DOCKER_HOST"
echo "registry:           $TB_REGISTRY"

step "Starting jetway server (API, run queue and parameter store on one listener)"
export HOME=$work/home XDG_DATA_HOME=$work/data
mkdir -p "$HOME"
"$jetway" server --listen 127.0.0.1:0 > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$work/server.log" 2>/dev/null && break; sleep 0.05; done
cat "$work/server.log"
export JETWAY_SERVER=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/server.log")

step "Storing the run's secrets as parameters (values never leave the server and the runner)"
"$jetway" params put /demo/DOCKER_HOST --value "$TB_DOCKER_HOST"
"$jetway" params put /demo/JETS_SSH_KEY --type SecureString --value-file "$TB_CLIENT_KEY"
"$jetway" params put /demo/JETS_SSH_KNOWN --type SecureString --value-file "$TB_KNOWN_HOSTS"
printf %s "$TB_REGISTRY_PASS" | "$jetway" params put /demo/DOCKER_PASS --type SecureString
"$jetway" params ls /demo

# The project as a user has it, with this bed's registry address.
project=$work/hello
cp -r examples/hello "$project"
sed -i "s/registry.example.com:5000/$TB_REGISTRY/g" "$project/jetway.yaml"

deploy() {
  local start end
  start=$(date +%s%N)
  "$jetway" deploy "$project" 2>&1 | tee "$work/$1.log"
  end=$(date +%s%N)
  echo "$(( (end - start) / 1000000 ))" > "$work/$1.ms"
}
step "Deploy 1 (cold: the remote Docker host has never built this project)"
deploy cold
step "A source change, as the next commit brings"
echo 'echo "changed at '"$(date +%T)"'"' >> "$project/app.sh"
step "Deploy 2 (warm: a new runner and sandbox, the same remote Docker host)"
deploy warm

step "jetway runs"
"$jetway" runs

step "Result"
printf '%-6s %8s ms   %s   %s\n' cold "$(cat "$work/cold.ms")" "$(grep -o '[0-9]*/[0-9]* steps cached' "$work/cold.log")" "$(grep -o 'uploaded [0-9]* bytes' "$work/cold.log")"
printf '%-6s %8s ms   %s   %s\n' warm "$(cat "$work/warm.ms")" "$(grep -o '[0-9]*/[0-9]* steps cached' "$work/warm.log")" "$(grep -o 'uploaded [0-9]* bytes' "$work/warm.log")"
echo "The dependency layer (the RUN step) was built once, on the remote host, and reused by the second"
echo "deploy; the second deploy uploaded only the changed file."

step_end
printf '\n\033[1m==> Time per step\033[0m\n'
printf '%s\n' "${timings[@]}"
