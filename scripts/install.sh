#!/usr/bin/env bash
# Installs the real servers meshbridge's local stack and tests run against, on a machine without Docker.
# Idempotent; everything built or downloaded is cached outside the work tree, keyed by version, so a warm run
# costs seconds. Usage: scripts/install.sh [redis] [zookeeper] [kafka] [istiod] [consul] [nacos] [docker] [docker-base]
# [compose] [kubernetes] [istiod-unpatched] [helm] [eureka] (default: all). Versions by environment:
# MESHBRIDGE_KAFKA_VERSION, MESHBRIDGE_ZOOKEEPER_VERSION, MESHBRIDGE_CONSUL_VERSION, MESHBRIDGE_ISTIO_VERSION
# (docs/versions.md). kubernetes, istiod-unpatched and helm are what the production path tests need
# (docs/kubernetes.md): etcd + kube-apiserver + kubectl, istiod without the no-Kubernetes patch, Helm. nacos and
# eureka: the test registries (docs/collectors.md). docker, docker-base and compose are what the docker compose
# end-to-end test needs
# (test/deploy/compose.test.ts): Debian's Docker engine, a Debian base image made from Debian's packages (no image
# registry is reachable from the build machines) and the Compose v2 CLI built from the Go module proxy.
set -euo pipefail

CACHE="${MESHBRIDGE_CACHE:-$HOME/.cache/meshbridge}"
KAFKA_VERSION="${MESHBRIDGE_KAFKA_VERSION:-3.9.1}"
# istio tags are not semver; the Go module proxy serves them by pseudo-version (docs/protocol.md). The proxy this
# project's machines reach holds only three istio commits (1.28.0 answers 403). The default is istio master of
# 2026-04-23 (istio/api v1.30.0-alpha.1), i.e. the 1.30 line.
ISTIO_VERSION="${MESHBRIDGE_ISTIO_VERSION:-1.30-b01690e6}"
# The other istio commits the proxy holds (docs/versions.md), by label. 1.31-eed52ebb (istio/api 1.31.0-rc) builds
# with exactly the dependencies it pins. 9739e10e (istio/api 1.30.4-dev, the 1.30 release branch) pins five
# pre-release dependencies the proxy refuses (403), so it is built with the nearest served versions instead, and its
# label says so: the binary is not "istio at 9739e10e" but that source with these substitutes.
ISTIO_REPLACE="${MESHBRIDGE_ISTIO_REPLACE:-}"
case "$ISTIO_VERSION" in
  1.30-b01690e6) ISTIO_DEFAULT_PSEUDO=v0.0.0-20260423205519-b01690e6db7d ;;
  1.31-eed52ebb) ISTIO_DEFAULT_PSEUDO=v0.0.0-20260827124520-eed52ebb66ad ;;
  1.30-9739e10e-nearest-deps)
    ISTIO_DEFAULT_PSEUDO=v0.0.0-20260826214018-9739e10eb9d7
    [ -n "$ISTIO_REPLACE" ] || ISTIO_REPLACE="istio.io/api@v1.30.8 istio.io/client-go@v1.30.8 \
github.com/envoyproxy/go-control-plane/envoy@v1.37.1-0.20260713214202-ca8ce173c36f \
github.com/envoyproxy/go-control-plane/contrib@v1.36.1-0.20260713214202-ca8ce173c36f \
github.com/agentgateway/agentgateway/api@v0.0.0-20260501213430-773586679f1c" ;;
  *) ISTIO_DEFAULT_PSEUDO= ;;
esac
ISTIO_PSEUDO="${MESHBRIDGE_ISTIO_PSEUDO:-$ISTIO_DEFAULT_PSEUDO}"
# "debian": Debian's package (3.8 on bookworm); any other value is a release from Maven Central (3.9.5: 3.9.6's
# parent POM is missing there, so Maven cannot resolve 3.9.6).
ZOOKEEPER_VERSION="${MESHBRIDGE_ZOOKEEPER_VERSION:-debian}"
CONSUL_VERSION="${MESHBRIDGE_CONSUL_VERSION:-1.22.0}"
# The Kubernetes control plane the production-path tests run istiod against (docs/kubernetes.md), and the Helm that
# lints and renders deploy/helm/meshbridge. Both come from the Go module proxy.
KUBERNETES_VERSION="${MESHBRIDGE_KUBERNETES_VERSION:-1.37.2}"
HELM_VERSION="${MESHBRIDGE_HELM_VERSION:-v3.22.0}"
# The Spring Cloud release train of the test Eureka server and client (harness/eureka-server, harness/eureka-client);
# their poms pin the Spring Boot version that train is built for.
EUREKA_VERSION="${MESHBRIDGE_EUREKA_VERSION:-2025.1.4}"
# Nacos publishes only its clients to Maven Central: the server is built from a source tarball kept beside the
# project (its README says where it came from), keyed by the commit it holds.
NACOS_COMMIT="${MESHBRIDGE_NACOS_COMMIT:-486e198486}"
# Where nacos-<commit>.tar.gz is (docs/collectors.md, "Building the Nacos test server"); by default the build
# machines' vendor directory, a sibling of the checkout's parent layout.
NACOS_VENDOR="${MESHBRIDGE_VENDOR:-$(dirname "$(cd "$(dirname "$0")/.." && pwd)")/shared/vendor}"
# Debian's bookworm has only the Python Compose v1 (1.29); the Go module proxy serves a few Compose v2 releases, of
# which 2.28.1 is the newest that still speaks to Debian bookworm's Docker engine 20.10 (API 1.41) without complaint.
COMPOSE_VERSION="${MESHBRIDGE_COMPOSE_VERSION:-v2.28.1}"
# The one base image every compose image is built on (deploy/docker/*.Dockerfile). Users pull it; here it is made by
# debootstrap from the Debian mirror apt uses and imported under the same tag (the test imports this tarball).
BASE_SUITE=bookworm
BASE_TAG="${MESHBRIDGE_BASE_IMAGE:-debian:12.15-slim}"

log() { printf '[install %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Holds a lock of its own around apt-get: the two install lanes below may both need packages, and dpkg allows one
# apt-get at a time (the second would fail, not wait).
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  mkdir -p "$CACHE"
  (
    flock 9
    log "apt-get install ${missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ) 9>"$CACHE/.apt.lock"
}

# Waits for a background Go build (pid), reporting progress every 30 s from its -v output; on failure shows its last
# lines. Cold builds take minutes on 2 cores: silence would look like a hang.
await_build() {
  local label=$1 pid=$2 out=$3
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "$label: still building ($(wc -l <"$out") packages done)"
  done
  if ! wait "$pid"; then tail -30 "$out" >&2; rm -f "$out"; log "$label: build failed"; return 1; fi
  rm -f "$out"
}

# Copies a module (MODULE@VERSION) from the Go module proxy into a writable directory, to build inside it: there the
# module's own go.sum verifies its dependencies (the checksum database is not reachable from these machines).
copy_module() {
  local mod
  mod=$(GOFLAGS=-mod=mod go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -n "$mod" ] && rm -rf "$2" && cp -r "$mod" "$2" && chmod -R u+w "$2"
}

# go build -v -trimpath with the given flags, appending to $1; a failure is retried once. A cold build downloads
# hundreds of modules from the proxy, and one failed download makes the whole build fail with a wall of misleading
# "cannot find module providing package" errors (seen once in a cold CI run; the same build then passed). Modules
# that did arrive stay in the module cache, so the retry only fetches what is missing.
# Every Go target is built without DWARF: no compiler output for it (-dwarf=false, ~10% of a cold helm compile) and
# none linked (-s -w at each call: istiod links in 8 s instead of 23, and is 127 instead of 185 MB in the images).
# Panics and pprof keep their function names and lines: those come from the Go runtime's own tables, not DWARF.
# Nothing here runs a debugger on these servers.
go_build_twice() {
  local out=$1; shift
  go build -v -trimpath -gcflags=all=-dwarf=false "$@" >>"$out" 2>&1 && return 0
  echo "[install] go build failed; retrying once (module downloads can fail transiently)" >>"$out"
  go build -v -trimpath -gcflags=all=-dwarf=false "$@" >>"$out" 2>&1
}

install_redis() {
  apt_install redis-server
  # Debian starts a system instance on :6379; we run our own on free ports, so stop it to save memory.
  (as_root service redis-server stop >/dev/null 2>&1 || true)
  log "redis: $(redis-server --version | cut -d' ' -f3)"
}

install_zookeeper() {
  if [ "$ZOOKEEPER_VERSION" != debian ]; then install_zookeeper_maven; return; fi
  apt_install default-jre-headless zookeeper
  log "zookeeper: $(ls /usr/share/java/zookeeper-3*.jar 2>/dev/null | head -1)"
}

# A ZooKeeper release's server jars from Maven Central (the same artifact Apache's tarball ships), with reload4j as
# the slf4j binding so harness/zookeeper.ts configures it with the same log4j.properties as Debian's package. The
# server needs two jars its POM marks "provided" (the tarball bundles them): Dropwizard metrics and snappy.
install_zookeeper_maven() {
  local dir="$CACHE/zookeeper/$ZOOKEEPER_VERSION"
  if [ -f "$dir/.complete" ]; then log "zookeeper $ZOOKEEPER_VERSION: cached at $dir"; return 0; fi
  apt_install default-jre-headless maven
  log "zookeeper $ZOOKEEPER_VERSION: resolving jars from Maven Central into $dir"
  rm -rf "$dir" && mkdir -p "$dir/libs"
  local pom; pom=$(mktemp -d)
  cat >"$pom/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>meshbridge</groupId><artifactId>zookeeper-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.zookeeper</groupId><artifactId>zookeeper</artifactId><version>$ZOOKEEPER_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>2.0.13</version></dependency>
    <dependency><groupId>io.dropwizard.metrics</groupId><artifactId>metrics-core</artifactId><version>4.1.12.1</version></dependency>
    <dependency><groupId>org.xerial.snappy</groupId><artifactId>snappy-java</artifactId><version>1.1.10.5</version></dependency>
  </dependencies>
</project>
POM
  mvn -q -B -Dstyle.color=never -f "$pom/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs"
  rm -rf "$pom"
  touch "$dir/.complete"
  log "zookeeper $ZOOKEEPER_VERSION: $(ls "$dir/libs" | wc -l) jars"
}

install_kafka() {
  local dir="$CACHE/kafka/$KAFKA_VERSION"
  if [ -f "$dir/.complete" ]; then log "kafka $KAFKA_VERSION: cached at $dir"; return 0; fi
  log "kafka $KAFKA_VERSION: resolving jars from Maven Central into $dir"
  rm -rf "$dir" && mkdir -p "$dir/libs"
  local pom; pom=$(mktemp -d)
  cat >"$pom/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>meshbridge</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
  </dependencies>
</project>
POM
  mvn -q -B -Dstyle.color=never -f "$pom/pom.xml" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir/libs" \
    -Dmdep.useRepositoryLayout=false
  rm -rf "$pom"
  touch "$dir/.complete"
  log "kafka $KAFKA_VERSION: $(ls "$dir/libs" | wc -l) jars"
}

install_istiod() {
  local dir="$CACHE/istiod/$ISTIO_VERSION"
  if [ -x "$dir/pilot-discovery" ]; then log "istiod $ISTIO_VERSION: cached at $dir"; return 0; fi
  log "istiod $ISTIO_VERSION: building pilot-discovery from the Go module proxy (cold: 10-20 min on 2 cores)"
  mkdir -p "$dir"
  # Progress: go prints each package it builds with -v; show a count every 30 s rather than a wall of names.
  local out; out=$(mktemp)
  # `go install pkg@version` fails here twice over: it first probes istio.io/istio/pilot/cmd/pilot-discovery as a module
  # of its own, which this proxy answers with 403 (not 404), and the sum database does not know istio's pre-release
  # dependency pseudo-versions. So: download the istio module alone and build inside a copy of it, where istio's own
  # go.sum verifies every dependency (exactly how istio's CI builds it).
  # The 1.30 line dereferences a nil multicluster controller when istiod runs without Kubernetes
  # (serviceentry.newController); scripts/patches/ holds the minimal nil guard, the only change to upstream code.
  local src="$CACHE/istiod/src-$ISTIO_VERSION"
  local patches; patches="$(cd "$(dirname "$0")" && pwd)/patches"
  [ -n "$ISTIO_PSEUDO" ] || { log "istiod $ISTIO_VERSION: unknown label; set MESHBRIDGE_ISTIO_PSEUDO"; return 1; }
  # Substitutes (MESHBRIDGE_ISTIO_REPLACE, "module@version ..."): replace directives in istio's go.mod, as a wrapper
  # module would add. istio's go.sum still verifies every dependency it pinned; only the substitutes, absent from it,
  # are taken from the proxy unverified (GONOSUMDB; the checksum database is unreachable here).
  local mode=readonly nosum="" edits=() r
  for r in $ISTIO_REPLACE; do edits+=(-replace "${r%@*}=$r"); nosum="$nosum,${r%@*}"; mode=mod; done
  ( copy_module "istio.io/istio@$ISTIO_PSEUDO" "$src" && cd "$src" \
      && for p in "$patches"/istiod-*.patch; do patch -s -p1 <"$p" || exit 1; done \
      && { [ ${#edits[@]} -eq 0 ] || go mod edit "${edits[@]}"; } \
      && GONOSUMDB="${nosum#,}" go_build_twice "$out" -mod=$mode \
           -ldflags "-s -w -X istio.io/istio/pkg/version.buildVersion=$ISTIO_VERSION" \
           -o "$dir/pilot-discovery.tmp" ./pilot/cmd/pilot-discovery \
      && mv "$dir/pilot-discovery.tmp" "$dir/pilot-discovery" ) &
  await_build "istiod $ISTIO_VERSION" $! "$out" || return 1
  # What the binary is, next to it: the source commit, the local patches and every substituted dependency.
  { echo "label: $ISTIO_VERSION"; echo "source: istio.io/istio@$ISTIO_PSEUDO"
    echo "patches: $(cd "$patches" && ls istiod-*.patch | tr '\n' ' ')"
    echo "substituted dependencies (pinned version refused by the proxy): ${ISTIO_REPLACE:-none}"; } >"$dir/BUILD-INFO"
  log "istiod $ISTIO_VERSION: built $dir/pilot-discovery"
}

# istiod as production runs it (with Kubernetes): the same istio module built without scripts/patches/, which only
# istiod without Kubernetes needs. Shares the Go build cache with install_istiod, so only the packages the patch
# touches and what links them are rebuilt. Istio's CRDs (for the harness's API server) are kept next to it.
install_istiod_unpatched() {
  local dir="$CACHE/istiod/$ISTIO_VERSION-unpatched"
  if [ -x "$dir/pilot-discovery" ] && [ -f "$dir/crd-all.gen.yaml" ]; then
    log "istiod $ISTIO_VERSION (unpatched): cached at $dir"; return 0
  fi
  log "istiod $ISTIO_VERSION (unpatched): building pilot-discovery from the Go module proxy (cold: 10-20 min; minutes after istiod)"
  mkdir -p "$dir"
  local src="$CACHE/istiod/src-unpatched-$ISTIO_VERSION"
  local out; out=$(mktemp)
  ( copy_module "istio.io/istio@$ISTIO_PSEUDO" "$src" && cd "$src" \
      && go_build_twice "$out" -mod=readonly -ldflags "-s -w" -o "$dir/pilot-discovery.tmp" ./pilot/cmd/pilot-discovery \
      && cp manifests/charts/base/files/crd-all.gen.yaml "$dir/" \
      && mv "$dir/pilot-discovery.tmp" "$dir/pilot-discovery" && rm -rf "$src" ) &
  await_build "istiod $ISTIO_VERSION (unpatched)" $! "$out" || return 1
  log "istiod $ISTIO_VERSION (unpatched): built $dir/pilot-discovery"
}

install_consul() {
  local dir="$CACHE/consul/$CONSUL_VERSION"
  if [ -x "$dir/consul" ]; then log "consul $CONSUL_VERSION: cached at $dir"; return 0; fi
  log "consul $CONSUL_VERSION: building from the Go module proxy (cold: several minutes on 2 cores)"
  mkdir -p "$dir"
  # consul's go.mod replaces its nested modules (api, sdk, proto-public, envoyextensions, troubleshoot) with ./dirs
  # that the module zip does not contain, so `go install github.com/hashicorp/consul@v` fails. Build inside a copy
  # of the module with only that replace block dropped: the nested modules then resolve to the versions consul's own
  # require block names (released together with the tag), its `exclude` lines stay in force, and every other
  # dependency is verified by consul's own go.sum. The sum database is not reachable from these machines, so only
  # the nested consul modules (absent from consul's go.sum because they were replaced) skip it (GONOSUMDB).
  local src="$CACHE/consul/src-$CONSUL_VERSION"
  local out; out=$(mktemp)
  ( copy_module "github.com/hashicorp/consul@v$CONSUL_VERSION" "$src" && cd "$src" \
      && sed -i '/^replace (/,/^)/d' go.mod \
      && GONOSUMDB=github.com/hashicorp/consul GOFLAGS=-mod=mod go mod download >"$out" 2>&1 \
      && GONOSUMDB=github.com/hashicorp/consul go_build_twice "$out" -mod=mod -ldflags "-s -w" -o "$dir/consul.tmp" . \
      && mv "$dir/consul.tmp" "$dir/consul" ) &
  await_build "consul $CONSUL_VERSION" $! "$out" || return 1
  log "consul $CONSUL_VERSION: built $dir/consul ($("$dir/consul" version | head -1))"
}

# The version the API server reports (/version) and kubectl's client version, as kubernetes' hack/lib/version.sh
# links them in; without them both say v0.0.0, and clients that check the server's version (istiod, helm install's
# kubeVersion) would see a server older than any.
kube_version_ldflags() {
  local minor=${KUBERNETES_VERSION#1.}; minor=${minor%%.*} f=""
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    f+=" -X $pkg.gitVersion=v$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "-s -w$f"
}

install_kubernetes() {
  apt_install etcd-server
  # Debian's package may start a system etcd on :2379; the harness runs its own on free ports.
  (as_root service etcd stop >/dev/null 2>&1 || true)
  local dir="$CACHE/kubernetes/$KUBERNETES_VERSION"
  if [ -x "$dir/kube-apiserver" ] && [ -x "$dir/kubectl" ]; then log "kubernetes $KUBERNETES_VERSION: cached at $dir"; return 0; fi
  log "kubernetes $KUBERNETES_VERSION: building kube-apiserver and kubectl from the Go module proxy (cold: ~15 min on 2 cores)"
  mkdir -p "$dir"
  # k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, apiserver ...) at v0.0.0 and replaces
  # them with ./staging/src dirs, so `go install` of it fails. Build inside a copy with the replace block dropped
  # and each staging module pinned to the release published with this tag (v0.X.Y for v1.X.Y). They are absent
  # from the module's go.sum (they were replaced), so only k8s.io modules skip the unreachable checksum database.
  # The module also carries a go.work naming the staging dirs, which its zip does not contain: GOWORK=off.
  local src="$CACHE/kubernetes/src-$KUBERNETES_VERSION" staging="v0.${KUBERNETES_VERSION#1.}"
  local out; out=$(mktemp)
  ( copy_module "k8s.io/kubernetes@v$KUBERNETES_VERSION" "$src" && cd "$src" && mkdir -p "$dir/.tmp" \
      && sed -i '/^replace (/,/^)/d' go.mod \
      && sed -i "s#^\(\tk8s.io/[a-z0-9-]*\) v0.0.0\$#\1 $staging#" go.mod \
      && GOWORK=off GONOSUMDB=k8s.io GOFLAGS=-mod=mod go mod download >"$out" 2>&1 \
      && GOWORK=off GONOSUMDB=k8s.io go_build_twice "$out" -mod=mod -ldflags "$(kube_version_ldflags)" \
           -o "$dir/.tmp/" ./cmd/kube-apiserver ./cmd/kubectl \
      && mv "$dir/.tmp/kube-apiserver" "$dir/.tmp/kubectl" "$dir/" && rmdir "$dir/.tmp" && rm -rf "$src" ) &
  await_build "kubernetes $KUBERNETES_VERSION" $! "$out" || return 1
  log "kubernetes $KUBERNETES_VERSION: built $dir/kube-apiserver and $dir/kubectl"
}

# Helm lints and renders deploy/helm/meshbridge (test/deploy/helm-chart.test.ts). helm's go.mod has no replace
# directives; built inside a copy of the module so its own go.sum verifies every dependency.
install_helm() {
  local dir="$CACHE/helm/$HELM_VERSION"
  if [ -x "$dir/helm" ]; then log "helm $HELM_VERSION: cached at $dir"; return 0; fi
  log "helm $HELM_VERSION: building from the Go module proxy (cold: several minutes on 2 cores)"
  mkdir -p "$dir"
  local src="$CACHE/helm/src-$HELM_VERSION"
  local out; out=$(mktemp)
  # As helm's Makefile does: the Kubernetes version helm assumes without a cluster (helm template, helm lint) is the
  # one of the client-go it is built with (v0.N.x -> 1.N); without it helm assumes 1.20.
  ( copy_module "helm.sh/helm/v3@$HELM_VERSION" "$src" && cd "$src" \
      && kminor=$(sed -n 's#^\tk8s.io/client-go v0\.\([0-9]*\)\..*#\1#p' go.mod) && [ -n "$kminor" ] \
      && go_build_twice "$out" -mod=readonly -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
           -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$kminor \
           -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$kminor" \
           -o "$dir/helm.tmp" ./cmd/helm \
      && mv "$dir/helm.tmp" "$dir/helm" && rm -rf "$src" ) &
  await_build "helm $HELM_VERSION" $! "$out" || return 1
  log "helm $HELM_VERSION: built $dir/helm ($("$dir/helm" version --short))"
}

# The standalone Nacos server (nacos-server.jar, conf/) built with Maven from the vendored source; dependencies come
# from Maven Central; tests, style checks and the console-ui frontend are skipped (the naming API needs none).
install_nacos() {
  local dir="$CACHE/nacos/$NACOS_COMMIT"
  if [ -f "$dir/.complete" ]; then log "nacos $NACOS_COMMIT: cached at $dir"; return 0; fi
  local tarball="$NACOS_VENDOR/nacos-$NACOS_COMMIT.tar.gz"
  [ -f "$tarball" ] || { log "nacos: source tarball $tarball not found (set MESHBRIDGE_VENDOR)"; return 1; }
  log "nacos $NACOS_COMMIT: building the server from $tarball with Maven (cold: ~7 min on 2 cores with a warm ~/.m2)"
  local src="$CACHE/nacos/src-$NACOS_COMMIT" out; out=$(mktemp)
  rm -rf "$src" && mkdir -p "$src" && tar xzf "$tarball" -C "$src" --strip-components=1
  # -Prelease-nacos makes bootstrap's Spring Boot jar (target/nacos-server.jar), which is all the server is.
  ( cd "$src" && nice -n 10 mvn -B -T1 -Dstyle.color=never -Prelease-nacos -Dmaven.test.skip=true -Drat.skip=true \
      -Dcheckstyle.skip=true -Dpmd.skip=true -Denforcer.skip=true -Dmaven.javadoc.skip=true \
      package -pl bootstrap -am >"$out" 2>&1 ) &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "nacos: still building (module $(grep -o '\[[0-9]*/[0-9]*\]$' "$out" | tail -1))"
  done
  if ! wait "$pid"; then tail -40 "$out" >&2; rm -f "$out"; log "nacos: build failed"; return 1; fi
  rm -f "$out"
  [ -f "$src/bootstrap/target/nacos-server.jar" ] || { log "nacos: the build left no bootstrap/target/nacos-server.jar"; return 1; }
  # What the release assembly would pack: the Spring Boot jar and the default conf/ (the harness writes its own
  # application.properties per run and takes nacos-logback.xml from here).
  rm -rf "$dir" && mkdir -p "$dir/target" && cp "$src/bootstrap/target/nacos-server.jar" "$dir/target/" \
    && cp -r "$src/distribution/conf" "$dir/" || return 1
  rm -rf "$src" && touch "$dir/.complete"
  log "nacos $NACOS_COMMIT: built $dir/target/nacos-server.jar"
}

install_docker() {
  # dockerd, containerd, runc and the docker CLI (20.10). Debian's package does not start a daemon here (no init
  # system; policy-rc.d): the compose test starts its own dockerd with its own socket and data root.
  apt_install docker.io debootstrap
  log "docker: $(dockerd --version)"
}

# The Debian mirror apt uses on this machine (http://host/path/), for debootstrap: read from apt's own configuration.
debian_mirror() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' \
    | awk -v s="$BASE_SUITE" '$2==s && $3=="Packages" {print $1; exit}'
}

install_docker_base() {
  local dir="$CACHE/docker/base" name; name=$(echo "$BASE_TAG" | tr ':/' '__')
  local tar="$dir/$name.tar"
  if [ -f "$tar" ]; then log "docker base $BASE_TAG: cached at $tar"; return 0; fi
  apt_install debootstrap
  local mirror; mirror=$(debian_mirror)
  [ -n "$mirror" ] || { log "docker base: no $BASE_SUITE Packages source in apt's configuration"; return 1; }
  log "docker base $BASE_TAG: debootstrap --variant=minbase $BASE_SUITE from the Debian mirror apt uses (cold: a few minutes)"
  mkdir -p "$dir"
  local root; root=$(mktemp -d "$dir/rootfs.XXXXXX")
  debootstrap --variant=minbase "$BASE_SUITE" "$root" "$mirror" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; rm -rf "$root" "$root.log"; return 1; }
  # Same apt sources as this machine (the suite, its updates and security), like the official image's debian.sources;
  # then trim what the official slim image leaves out: package lists, caches, docs.
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/debian.sources" && rm -f "$root/etc/apt/sources.list"
  fi
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb "$root"/usr/share/doc/* "$root"/usr/share/man/*
  local got; got=$(cat "$root/etc/debian_version")
  [ "debian:$got-slim" = "$BASE_TAG" ] || log "docker base: WARNING: the mirror now serves Debian $got; the image is tagged $BASE_TAG"
  tar --numeric-owner -C "$root" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
  rm -rf "$root" "$root.log"
  log "docker base $BASE_TAG: Debian $got, $(du -m "$tar" | cut -f1) MiB at $tar"
}

install_compose() {
  local dir="$CACHE/compose/$COMPOSE_VERSION"
  if [ -x "$dir/docker-compose" ]; then log "compose $COMPOSE_VERSION: cached at $dir"; return 0; fi
  log "compose $COMPOSE_VERSION: building from the Go module proxy (cold: several minutes on 2 cores)"
  mkdir -p "$dir"
  # Built inside a copy of the module so compose's own go.sum verifies every dependency (the checksum database is
  # not reachable from these machines); the module has no replace directives.
  local src="$CACHE/compose/src-$COMPOSE_VERSION"
  local out; out=$(mktemp)
  ( copy_module "github.com/docker/compose/v2@$COMPOSE_VERSION" "$src" && cd "$src" \
      && go_build_twice "$out" -mod=readonly -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
           -o "$dir/docker-compose.tmp" ./cmd \
      && mv "$dir/docker-compose.tmp" "$dir/docker-compose" && rm -rf "$src" ) &
  await_build "compose $COMPOSE_VERSION" $! "$out" || return 1
  log "compose $COMPOSE_VERSION: built $dir/docker-compose ($("$dir/docker-compose" version))"
}

# Builds the two Spring Boot jars of harness/eureka-server and harness/eureka-client with Maven (dependencies from Maven
# Central, into the shared ~/.m2). Keyed by release train and by a hash of their sources, so a changed app rebuilds.
install_eureka() {
  apt_install openjdk-17-jdk-headless maven
  local root; root="$(cd "$(dirname "$0")/.." && pwd)"
  local hash; hash=$(cd "$root/harness" && find eureka-server eureka-client -type f | sort | xargs cat | sha256sum | cut -c1-12)
  local dir="$CACHE/eureka/$EUREKA_VERSION"
  if [ -f "$dir/$hash.complete" ]; then log "eureka $EUREKA_VERSION: cached at $dir"; return 0; fi
  log "eureka $EUREKA_VERSION: building the Eureka server and client demo jars with Maven (cold: a few minutes)"
  mkdir -p "$dir"
  local app
  for app in eureka-server eureka-client; do
    local src; src=$(mktemp -d)
    cp -r "$root/harness/$app/." "$src/"
    local out; out=$(mktemp)
    ( cd "$src" && nice -n 10 mvn -B -DskipTests "-Dspring-cloud.version=$EUREKA_VERSION" package >"$out" 2>&1 ) &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
      sleep 30
      kill -0 "$pid" 2>/dev/null && log "eureka $app: still building ($(grep -c '^\[INFO\] Downloaded' "$out" || true) artifacts downloaded)"
    done
    if ! wait "$pid"; then tail -40 "$out" >&2; rm -rf "$src" "$out"; log "eureka $app: build failed"; return 1; fi
    cp "$src"/target/*.jar "$dir/$app.jar.tmp" && mv "$dir/$app.jar.tmp" "$dir/$app.jar"
    rm -rf "$src" "$out"
  done
  rm -f "$dir"/*.complete && echo "$hash" >"$dir/$hash.complete"
  log "eureka $EUREKA_VERSION: built $dir/eureka-server.jar and $dir/eureka-client.jar"
}

# One install of a target at a time, across processes: .ci/run builds the deployment tests' servers in the background
# while the other tests run, and the test that needs one of them runs this script for it too (harness/install.ts).
# The later one waits here, then finds the target cached. The lock is the kernel's (flock), so an install that dies
# releases it; a lock file is never stale.
install_locked() {
  local t=$1 fd waited=0
  mkdir -p "$CACHE/.locks"
  exec {fd}>>"$CACHE/.locks/$t.lock"
  if ! flock -n "$fd"; then
    log "$t: another scripts/install.sh is installing it; waiting for it to finish"
    until flock -w 30 "$fd"; do
      waited=$((waited + 30))
      log "$t: still waiting for the other install (${waited} s)"
    done
  fi
  "install_${t//-/_}"
  exec {fd}>&-
}

targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(redis zookeeper kafka istiod consul nacos docker docker-base compose \
  kubernetes istiod-unpatched helm eureka)

go_lane=() other_lane=()
for t in "${targets[@]}"; do
  case "$t" in
    istiod|istiod-unpatched|consul|compose|kubernetes|helm) go_lane+=("$t") ;;
    redis|zookeeper|kafka|nacos|docker|docker-base|eureka) other_lane+=("$t") ;;
    *) echo "install.sh: unknown target '$t' (known: redis zookeeper kafka istiod istiod-unpatched consul nacos kubernetes helm eureka docker docker-base compose)" >&2; exit 2 ;;
  esac
done

# Two lanes at once: the Go builds keep both cores busy, while the other targets (Maven downloads and builds at
# nice 10, debootstrap) mostly wait on the network, so a cold install takes about as long as the Go builds alone.
# Each lane keeps its order (istiod-unpatched reuses istiod's build cache; the Maven builds share ~/.m2) and runs in
# a subshell of its own under `set -e`, so a failing step stops its lane; both lanes are awaited before the verdict.
# A third lane fetching the later Go targets' modules early would save little: consul's, kubernetes', helm's and
# compose's module downloads took 80 s in all from an empty module cache (and 1.1 cores while unpacking), against
# ~20 min of compiling (measured 2026-12-03).
run_lane() { local t; for t in "$@"; do install_locked "$t"; done; }
run_lane "${other_lane[@]}" &
other_pid=$!
run_lane "${go_lane[@]}" &
go_pid=$!
failed=0
wait "$other_pid" || failed=1
wait "$go_pid" || failed=1
if [ "$failed" -ne 0 ]; then log "install failed (see the lines above)"; exit 1; fi
