#!/usr/bin/env bash
# tools.sh installs the pinned tools Latch needs to build and test, caching each one
# outside the work tree under $LATCH_TOOLS (default ~/.cache/latch/tools), keyed by version,
# so a second run takes seconds.
#
#   hack/tools.sh [tool...]     tools: redis etcd kube-apiserver envtest controller-gen helm promtool
#                               crane coredns ca-certificates kube-node containerd runc
#                               containernetworking-plugins iptables conntrack nftables
#   hack/tools.sh --print-env   print the variables the Makefile and tests read (after installing)
#
# Every tool comes from a registry this project may use: Debian packages (redis-server, runc, the
# CNI plugins, iptables, conntrack, nftables) or Go modules (everything else, built from source). Nothing
# downloads a prebuilt binary.
set -euo pipefail

ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"
CONTROLLER_TOOLS_VERSION="${CONTROLLER_TOOLS_VERSION:-v0.23.0}"
HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# Prometheus tags its Go module v0.X.Y for release v3.X.Y; promtool checks and unit-tests the
# chart's alerting rules.
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-v0.316.0}"
# crane (go-containerregistry) assembles and mutates OCI images without a container engine;
# CoreDNS is built for the node's DNS image (hack/images).
CRANE_VERSION="${CRANE_VERSION:-v0.22.1}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
# containerd runs the node's containers (internal/kubenode); built from Go modules, with runc
# from Debian.
CONTAINERD_VERSION="${CONTAINERD_VERSION:-v2.2.1}"
# KUBE_BUILD names how the Kubernetes binaries are built, beside their version in the cache key:
# "stamped" builds carry their real version (ldflags below). An older cached kube-apiserver built
# without them reports v0.0.0-master+$Format:%H$, which kubectl cannot parse, so a changed recipe
# gets a new directory instead of reusing it.
KUBE_BUILD=stamped

TOOLS="${LATCH_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/latch/tools}"
mkdir -p "$TOOLS"

say()  { printf '[tools] %s\n' "$*" >&2; }
fail() { printf '[tools] FAILED: %s\n' "$*" >&2; exit 1; }

# progress runs a slow command, printing a dot line every 15 s so a watcher knows it is alive,
# and shows the command's own output only when it fails.
progress() {
  local what="$1"; shift
  local log; log="$(mktemp)"
  local start=$SECONDS
  say "$what (this can take minutes the first time)..."
  ( "$@" >"$log" 2>&1 ) &
  local pid=$!
  local next=$((SECONDS + 15))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.5
    if [ $SECONDS -ge $next ] && kill -0 "$pid" 2>/dev/null; then
      say "  ... $what still running ($((SECONDS - start)) s)"
      next=$((SECONDS + 15))
    fi
  done
  if ! wait "$pid"; then
    tail -n 40 "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  say "$what done in $((SECONDS - start)) s"
}

install_redis() {
  if command -v redis-server >/dev/null 2>&1; then return 0; fi
  [ "$(id -u)" = 0 ] || fail "redis-server: not installed and not root; run: sudo apt-get install -y redis-server"
  progress "redis-server: apt-get install" bash -c \
    'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends redis-server redis-tools' \
    || fail "redis-server: apt-get install failed; run 'apt-get update && apt-get install -y redis-server' by hand and retry"
  # The Debian package starts a system redis on 6379; tests use their own servers on free ports.
  (service redis-server stop || true) >/dev/null 2>&1
}

# build_in_wrapper builds a Go main package from a module that go install refuses (replace
# directives), inside a throwaway wrapper module.
build_in_wrapper() {
  local out="$1" pkg="$2" mod="$3" version="$4" extra="${5:-}"
  local w; w="$(mktemp -d)"
  (
    cd "$w"
    go mod init latch.dev/toolwrapper >/dev/null 2>&1
    if [ -n "$extra" ]; then eval "$extra"; fi
    GOFLAGS=-mod=mod go get "$mod@$version"
    GOFLAGS=-mod=mod go build -trimpath -o "$out" "$pkg"
  )
  local rc=$?
  rm -rf "$w"
  return $rc
}

install_etcd() {
  local dir="$TOOLS/etcd-$ETCD_VERSION"
  [ -x "$dir/etcd" ] && return 0
  mkdir -p "$dir"
  progress "etcd $ETCD_VERSION: build from Go modules" \
    build_in_wrapper "$dir/etcd.tmp" go.etcd.io/etcd/server/v3 go.etcd.io/etcd/server/v3 "$ETCD_VERSION" \
    || fail "etcd: build failed (see output above); check the Go module proxy is reachable and ETCD_VERSION=$ETCD_VERSION exists"
  mv "$dir/etcd.tmp" "$dir/etcd"
}

# kube_replaces writes one replace directive per staging module that k8s.io/kubernetes requires
# at v0.0.0, pointing it at the published v0.X.Y tag.
kube_replaces() {
  local gomod staging
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [ -f "$gomod" ] || return 1
  staging="v0.${KUBE_VERSION#v1.}"
  grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u | while read -r m; do
    go mod edit -replace "$m=$m@$staging"
  done
}

# kube_ldflags stamps the version a Kubernetes binary reports: built from Go modules it would
# otherwise say v0.0.0-master+$Format:%H$ (the placeholders of a git archive).
kube_ldflags() {
  local major minor rest pkg flags=""
  rest="${KUBE_VERSION#v}"; major="${rest%%.*}"; rest="${rest#*.}"; minor="${rest%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean"
  done
  echo "${flags# }"
}

kube_apiserver_dir() { echo "$TOOLS/kube-apiserver-$KUBE_VERSION-$KUBE_BUILD"; }
kube_node_dir()      { echo "$TOOLS/kube-node-$KUBE_VERSION-$KUBE_BUILD"; }
KUBE_NODE_CMDS=(kubelet kube-controller-manager kube-scheduler kube-proxy kubectl)

# build_kube builds the named k8s.io/kubernetes/cmd programs in one go build of one wrapper
# module (they share most packages, so together they take little longer than the largest)
# into the directory out.
build_kube() {
  local out="$1"; shift
  local pkgs=() c
  for c in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  local w; w="$(mktemp -d)"
  (
    cd "$w"
    go mod init latch.dev/toolwrapper >/dev/null 2>&1
    kube_replaces
    GOFLAGS=-mod=mod go get "k8s.io/kubernetes@$KUBE_VERSION"
    GOFLAGS=-mod=mod go build -trimpath -ldflags "$(kube_ldflags)" -o "$out/" "${pkgs[@]}"
  )
  local rc=$?
  rm -rf "$w"
  return $rc
}

# install_kube builds whichever of kube-apiserver and the node's components (the list given) is
# missing, all in one build, into a temporary directory moved into place at the end so an
# interrupted build leaves nothing that looks finished.
install_kube() {
  local want=() c api node
  api="$(kube_apiserver_dir)"; node="$(kube_node_dir)"
  for c in "$@"; do
    if [ "$c" = kube-apiserver ]; then [ -x "$api/$c" ] || want+=("$c")
    else [ -x "$node/$c" ] || want+=("$c"); fi
  done
  [ ${#want[@]} -eq 0 ] && return 0
  local tmp="$TOOLS/.kube-build-$$"
  rm -rf "$tmp"; mkdir -p "$tmp" "$api" "$node"
  export KUBE_VERSION
  export -f kube_replaces kube_ldflags build_kube
  progress "Kubernetes $KUBE_VERSION (${want[*]}): build from Go modules" build_kube "$tmp" "${want[@]}" \
    || { rm -rf "$tmp"; fail "Kubernetes ${want[*]}: build failed (see output above); check the Go module proxy and KUBE_VERSION=$KUBE_VERSION"; }
  for c in "${want[@]}"; do
    if [ "$c" = kube-apiserver ]; then mv "$tmp/$c" "$api/$c"; else mv "$tmp/$c" "$node/$c"; fi
  done
  rm -rf "$tmp"
}

install_kube_apiserver() { install_kube kube-apiserver; }

# The node's components are built with kube-apiserver when it is missing too, which saves the
# second pass over the packages they share.
install_kube_node() { install_kube kube-apiserver "${KUBE_NODE_CMDS[@]}"; }

# containerd, its runc shim and ctr, static (no cgo; no_btrfs drops the one snapshotter that
# needs cgo headers), with the version containerd's own Makefile stamps.
install_containerd() {
  local dir="$TOOLS/containerd-$CONTAINERD_VERSION"
  [ -x "$dir/containerd" ] && [ -x "$dir/containerd-shim-runc-v2" ] && [ -x "$dir/ctr" ] && return 0
  local tmp="$TOOLS/.containerd-build-$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  local m=github.com/containerd/containerd/v2
  progress "containerd $CONTAINERD_VERSION: go install (static)" \
    env GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-tags=no_btrfs go install -trimpath \
      -ldflags "-X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m" \
      "$m/cmd/containerd@$CONTAINERD_VERSION" "$m/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" "$m/cmd/ctr@$CONTAINERD_VERSION" \
    || { rm -rf "$tmp"; fail "containerd: go install $m/cmd/{containerd,containerd-shim-runc-v2,ctr}@$CONTAINERD_VERSION failed (see output above)"; }
  rm -rf "$dir"; mv "$tmp" "$dir"
}

# apt_install installs a Debian package when the file that shows it is there is missing. The
# package index is refreshed once per run.
APT_UPDATED=""
apt_install() {
  local pkg="$1" present="$2"
  [ -e "$present" ] && return 0
  [ "$(id -u)" = 0 ] || fail "$pkg: not installed and not root; run: sudo apt-get install -y $pkg"
  if [ -z "$APT_UPDATED" ]; then
    progress "apt-get update" apt-get update -q || fail "apt-get update failed; check the Debian mirrors are reachable"
    APT_UPDATED=1
  fi
  progress "$pkg: apt-get install" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" \
    || fail "$pkg: apt-get install failed; run 'apt-get update && apt-get install -y $pkg' by hand and retry"
  [ -e "$present" ] || fail "$pkg: installed, but $present is still missing"
}

# The node's Debian pieces: runc under containerd, the bridge, host-local and portmap CNI
# plugins, the iptables and conntrack that the kubelet and kube-proxy call, and nft, with which
# the node's teardown deletes the nftables tables iptables-nft created (iptables cannot).
CNI_BIN_DIR=/usr/lib/cni
install_runc()       { apt_install runc /usr/sbin/runc; }
install_cni()        { apt_install containernetworking-plugins "$CNI_BIN_DIR/bridge"; }
install_iptables()   { apt_install iptables /usr/sbin/iptables; }
install_conntrack()  { apt_install conntrack /usr/sbin/conntrack; }
install_nftables()   { apt_install nftables /usr/sbin/nft; }

go_install() {
  local name="$1" pkg="$2" version="$3"
  local dir="$TOOLS/$name-$version"
  [ -x "$dir/$name" ] && return 0
  mkdir -p "$dir"
  progress "$name $version: go install" env GOBIN="$dir" go install "$pkg@$version" \
    || fail "$name: go install $pkg@$version failed (see output above)"
}

install_controller_gen() { go_install controller-gen sigs.k8s.io/controller-tools/cmd/controller-gen "$CONTROLLER_TOOLS_VERSION"; }
install_helm()           { go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION"; }

# promtool is built without Prometheus's service discovery plugins (tag remove_all_sd): the
# tests only check and unit-test rule files, and the cloud SDKs the plugins pull in would
# make the first build several times longer.
install_promtool() {
  local dir="$TOOLS/promtool-$PROMETHEUS_VERSION"
  [ -x "$dir/promtool" ] && return 0
  mkdir -p "$dir"
  progress "promtool $PROMETHEUS_VERSION: go install" \
    env GOBIN="$dir" GOFLAGS=-tags=remove_all_sd go install "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" \
    || fail "promtool: go install github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION failed (see output above)"
}

install_crane() { go_install crane github.com/google/go-containerregistry/cmd/crane "$CRANE_VERSION"; }

# CoreDNS goes into an image on an empty base, so it is built static (no cgo) and stripped.
install_coredns() {
  local dir="$TOOLS/coredns-$COREDNS_VERSION"
  [ -x "$dir/coredns" ] && return 0
  mkdir -p "$dir"
  progress "coredns $COREDNS_VERSION: go install (static)" \
    env GOBIN="$dir" CGO_ENABLED=0 go install -trimpath -ldflags=-s\ -w "github.com/coredns/coredns@$COREDNS_VERSION" \
    || fail "coredns: go install github.com/coredns/coredns@$COREDNS_VERSION failed (see output above)"
}

# The latch image carries Debian's CA bundle, as the Dockerfile's carries its build stage's.
install_ca_certificates() {
  [ -s /etc/ssl/certs/ca-certificates.crt ] && return 0
  [ "$(id -u)" = 0 ] || fail "ca-certificates: not installed and not root; run: sudo apt-get install -y ca-certificates"
  progress "ca-certificates: apt-get install" bash -c \
    'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ca-certificates' \
    || fail "ca-certificates: apt-get install failed"
}

# assets links etcd and kube-apiserver into one directory, the layout envtest's
# KUBEBUILDER_ASSETS expects.
assets_dir() { echo "$TOOLS/envtest-$KUBE_VERSION-$KUBE_BUILD-etcd-$ETCD_VERSION"; }
install_assets() {
  install_etcd; install_kube_apiserver
  local a; a="$(assets_dir)"; mkdir -p "$a"
  ln -sf "$TOOLS/etcd-$ETCD_VERSION/etcd" "$a/etcd"
  ln -sf "$(kube_apiserver_dir)/kube-apiserver" "$a/kube-apiserver"
  ln -sf "$(command -v kubectl || echo /usr/bin/kubectl)" "$a/kubectl"
}

print_env() {
  echo "KUBEBUILDER_ASSETS=$(assets_dir)"
  echo "CONTROLLER_GEN=$TOOLS/controller-gen-$CONTROLLER_TOOLS_VERSION/controller-gen"
  echo "HELM=$TOOLS/helm-$HELM_VERSION/helm"
  echo "PROMTOOL=$TOOLS/promtool-$PROMETHEUS_VERSION/promtool"
  echo "REDIS_SERVER=$(command -v redis-server || true)"
  echo "CRANE=$TOOLS/crane-$CRANE_VERSION/crane"
  echo "COREDNS=$TOOLS/coredns-$COREDNS_VERSION/coredns"
  # The node (internal/kubenode): its programs, by directory.
  echo "ETCD=$TOOLS/etcd-$ETCD_VERSION/etcd"
  echo "KUBE_APISERVER=$(kube_apiserver_dir)/kube-apiserver"
  echo "KUBE_NODE_BIN=$(kube_node_dir)"
  echo "CONTAINERD_BIN=$TOOLS/containerd-$CONTAINERD_VERSION"
  echo "CNI_BIN_DIR=$CNI_BIN_DIR"
  echo "RUNC=$(command -v runc || true)"
  echo "IPTABLES=$(command -v iptables || true)"
  echo "CONNTRACK=$(command -v conntrack || true)"
  echo "NFT=$(command -v nft || true)"
}

main() {
  if [ "${1:-}" = "--print-env" ]; then print_env; return; fi
  local want=("$@")
  [ ${#want[@]} -eq 0 ] && want=(redis controller-gen envtest helm promtool)
  for t in "${want[@]}"; do
    case "$t" in
      redis) install_redis ;;
      etcd) install_etcd ;;
      kube-apiserver) install_kube_apiserver ;;
      envtest) install_assets ;;
      controller-gen) install_controller_gen ;;
      helm) install_helm ;;
      promtool) install_promtool ;;
      crane) install_crane ;;
      coredns) install_coredns ;;
      ca-certificates) install_ca_certificates ;;
      kube-node) install_kube_node ;;
      containerd) install_containerd ;;
      runc) install_runc ;;
      containernetworking-plugins) install_cni ;;
      iptables) install_iptables ;;
      conntrack) install_conntrack ;;
      nftables) install_nftables ;;
      *) fail "unknown tool '$t' (known: redis etcd kube-apiserver envtest controller-gen helm promtool crane coredns ca-certificates kube-node containerd runc containernetworking-plugins iptables conntrack nftables)" ;;
    esac
  done
}
main "$@"
