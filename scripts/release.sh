#!/usr/bin/env bash
# Builds a jetway release into OUT_DIR (default dist/, which git ignores):
#
#   jetway_VERSION_linux_amd64       static binaries (CGO_ENABLED=0,
#   jetway_VERSION_linux_arm64       -trimpath), the version stamped with
#   jetway_VERSION_darwin_amd64      -ldflags -X …cli.releaseVersion
#   jetway_VERSION_darwin_arm64
#   jetway_VERSION_windows_amd64.exe
#   jetway_DEBVERSION_amd64.deb      the server and the agent for Debian:
#   jetway_DEBVERSION_arm64.deb      /usr/bin/jetway and their systemd units
#   SHA256SUMS                       sha256sum -c SHA256SUMS checks them all
#
# VERSION is $VERSION, else `git describe --tags --always --dirty`. Needs
# Go and dpkg-deb (Debian's dpkg); nothing is downloaded but Go modules.
#
#   scripts/release.sh [OUT_DIR]
#   VERSION=v1.2.0 scripts/release.sh /tmp/rel
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
case $version in
  *[!A-Za-z0-9._+~-]*) echo "release: VERSION $version: letters, digits and . _ + ~ - only" >&2; exit 2 ;;
esac
# Debian versions start with a digit: v1.2.0 -> 1.2.0, a bare commit
# 1a2b3c4 -> 0~git1a2b3c4.
debversion=${version#v}
[[ $debversion =~ ^[0-9] ]] || debversion="0~git$debversion"
debversion=${debversion//-/+}   # no '-': it would start a Debian revision
command -v dpkg-deb >/dev/null || { echo "release: dpkg-deb missing (apt-get install dpkg)" >&2; exit 1; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/jetway_* "$out"/SHA256SUMS

export CGO_ENABLED=0
ldflags="-s -w -X github.com/jetway-dev/jetway/internal/cli.releaseVersion=$version"
targets=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64)
for t in "${targets[@]}"; do
  goos=${t%/*} goarch=${t#*/}
  name=jetway_${version}_${goos}_${goarch}
  [ "$goos" = windows ] && name+=.exe
  echo "release: $name" >&2
  # -buildvcs=true: the commit goes in even where GOFLAGS turns it off.
  GOOS=$goos GOARCH=$goarch go build -trimpath -buildvcs=true -ldflags "$ldflags" -o "$out/$name" ./cmd/jetway
done

# The .deb: the binary and the systemd units of the server and the agent,
# which this package installs but neither enables nor starts (the agent
# needs /etc/jetway/agent.env first; see its unit).
for arch in amd64 arm64; do
  deb=jetway_${debversion}_${arch}.deb
  echo "release: $deb" >&2
  root=$(mktemp -d)
  chmod 0755 "$root"   # mktemp's 0700 would be the package's ./
  install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/usr/share/doc/jetway"
  install -m 0755 "$out/jetway_${version}_linux_${arch}" "$root/usr/bin/jetway"
  for unit in deploy/systemd/*.service; do
    # The units name /usr/local/bin, where a hand install puts jetway.
    sed 's#/usr/local/bin/jetway#/usr/bin/jetway#g' "$unit" > "$root/usr/lib/systemd/system/$(basename "$unit")"
    chmod 0644 "$root/usr/lib/systemd/system/$(basename "$unit")"
  done
  install -m 0644 deploy/systemd/agent.env.example "$root/usr/share/doc/jetway/agent.env.example"
  cat > "$root/DEBIAN/control" <<EOF
Package: jetway
Version: $debversion
Architecture: $arch
Maintainer: jetway maintainers <maintainers@jetway.dev>
Section: devel
Priority: optional
Depends: util-linux, passwd, slirp4netns, nftables
Recommends: docker.io | docker-ce, git
Homepage: https://github.com/jetway-dev/jetway
Description: build and deploy on throw-away runners that reuse a Docker host's cache
 jetway server (API, run queue, parameter store, dashboard) and jetway agent
 (executes a server's runs, each isolated with a user and namespaces of its
 own), with their systemd units jetway-server.service and
 jetway-agent.service, installed but not enabled.
EOF
  cat > "$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
EOF
  chmod 0755 "$root/DEBIAN/postinst"
  dpkg-deb --root-owner-group --build "$root" "$out/$deb" >/dev/null
  rm -rf "$root"
done

(cd "$out" && sha256sum jetway_* > SHA256SUMS)
echo "release: $version in $out" >&2
