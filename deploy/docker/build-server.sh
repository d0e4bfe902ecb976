#!/bin/sh
# Runs inside an image build (deploy/docker/{istiod,consul,kafka}.Dockerfile): gets one server with the project's own
# scripts/install.sh — the same recipe, versions and patches as the machines without Docker — into /cache, then copies
# what the image needs to /out. If the build context carried a prebuilt copy (deploy/docker/local/<server>/,
# filled by the compose test from this machine's install cache) install.sh finds it cached and builds nothing.
# Otherwise it installs the build tools it needs first: Go (Debian's go only fetches the pinned toolchain from the Go
# module proxy, which then does the build) or Maven.
set -eu
server=$1
export MESHBRIDGE_CACHE=/cache
GO_TOOLCHAIN=${GO_TOOLCHAIN:-go1.26.8}
apt_get() { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null; }

if [ -z "$(find "/cache/$server" -type f ! -name .keep 2>/dev/null | head -1)" ]; then
  echo "build-server: $server: nothing prebuilt in the build context; building it" >&2
  case "$server" in
    istiod|consul)
      apt_get ca-certificates golang-go patch
      # Debian bookworm's go (1.19) is too old for istio and consul; the Go module proxy serves every Go release as
      # the module golang.org/toolchain (what `GOTOOLCHAIN=` downloads), so fetch the pinned one with it.
      dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
      cp -r "$dir" /usr/local/go && chmod -R u+w /usr/local/go && chmod +x /usr/local/go/bin/* /usr/local/go/pkg/tool/*/*
      apt-get purge -y -qq golang-go golang-1.19-go >/dev/null && rm -rf /root/go/pkg/mod/golang.org/toolchain*
      export PATH=/usr/local/go/bin:$PATH GOTOOLCHAIN=local
      ;;
    kafka) apt_get ca-certificates maven ;;
  esac
fi
/src/scripts/install.sh "$server"
mkdir -p /out
case "$server" in
  istiod) cp /cache/istiod/*/pilot-discovery /out/ ;;
  consul) cp /cache/consul/*/consul /out/ ;;
  kafka)  cp -r /cache/kafka/*/libs /out/libs ;;
esac
