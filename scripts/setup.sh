#!/usr/bin/env bash
# Installs what jetway's tests (or, with JETWAY_SETUP=demo, its demo) need
# on a Debian machine, as root:
# Debian packages, and a Go toolchain new enough for go.mod.
# Sourced by demo.sh and test.sh; safe to run again.
set -euo pipefail

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have dockerd         || need_pkgs+=(docker.io)
have containerd      || need_pkgs+=(containerd)
have sshd            || need_pkgs+=(openssh-server)
have ssh             || need_pkgs+=(openssh-client)
have ssh-agent       || need_pkgs+=(openssh-client)
have docker-registry || need_pkgs+=(docker-registry)
have htpasswd        || need_pkgs+=(apache2-utils)
have busybox         || need_pkgs+=(busybox-static)
have ip              || need_pkgs+=(iproute2)
have nsenter         || need_pkgs+=(util-linux)
# Each isolated run's own network: slirp4netns links its namespace to the
# world, nft sets its firewall (internal/sandbox refuses runs without them).
have slirp4netns     || need_pkgs+=(slirp4netns)
have nft             || need_pkgs+=(nftables)
have git             || need_pkgs+=(git)
have useradd         || need_pkgs+=(passwd)
# What only the tests use (a browser, PostgreSQL, Prometheus, the AWS CLI,
# boto3, hex dump tools): the demo sources this with JETWAY_SETUP=demo and
# installs only what it runs.
if [ "${JETWAY_SETUP:-tests}" != demo ]; then
  have curl            || need_pkgs+=(curl)
  have aws             || need_pkgs+=(awscli)
  have pkill           || need_pkgs+=(procps)
  have python3         || need_pkgs+=(python3)   # the isolation tests' fork-hopper
  python3 -c 'import boto3' 2>/dev/null || need_pkgs+=(python3-boto3)  # the parameter store's boto3 tests
  have xxd             || need_pkgs+=(xxd)       # the masker's tests mask real hex dumps
  have hexdump         || need_pkgs+=(bsdextrautils)
  have chromium        || need_pkgs+=(chromium)
  # promtool tests the alert rules; the e2e test scrapes with a real Prometheus.
  have promtool        || need_pkgs+=(prometheus)
  # PostgreSQL for the store's tests (throw-away clusters made with initdb);
  # its service is not needed and not started.
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  echo "setup: installing ${need_pkgs[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# Go: go.mod names the minimum. Debian's own golang-go is older, so it is
# only used to fetch the real toolchain through the Go module proxy.
go_min=$(awk '/^go /{print $2}' "$(dirname "${BASH_SOURCE[0]}")/../go.mod")
export PATH=/usr/local/go/bin:$HOME/go/bin:$PATH
go_ok() {
  command -v go >/dev/null 2>&1 || return 1
  local v; v=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
  [ "$(printf '%s\n%s\n' "$go_min" "$v" | sort -V | head -1)" = "$go_min" ]
}
if ! go_ok; then
  toolchain_dir=/usr/local/lib/jetway-go
  if [ ! -x "$toolchain_dir/bin/go" ]; then
    echo "setup: installing Go $go_min" >&2
    command -v go >/dev/null 2>&1 || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null; }
    tmp=$(mktemp -d)
    ver="v0.0.1-go${go_min}.linux-$(dpkg --print-architecture)"
    (cd "$tmp" && go mod init bootstrap >/dev/null 2>&1 &&
      GOFLAGS=-modcacherw go mod download -json "golang.org/toolchain@$ver" > dl.json)
    src=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' "$tmp/dl.json")
    rm -rf "$toolchain_dir" && cp -r "$src" "$toolchain_dir"
    chmod -R a+x "$toolchain_dir/bin" "$toolchain_dir/pkg/tool"
    rm -rf "$tmp"
  fi
  export PATH=$toolchain_dir/bin:$PATH
  export GOTOOLCHAIN=local
fi
go_ok || { echo "setup: could not get Go >= $go_min" >&2; exit 1; }
