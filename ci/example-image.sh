#!/usr/bin/env bash
# Builds the images of the kind a user brings, standing in for ones from a
# registry: clusterlab-example/consul:1.8 and clusterlab-example/etcd:3.5,
# each Debian's server binary and the libraries it links, on scratch, with
# the server as its entrypoint, and no disco-agent. generic-consul.toml runs
# the first as a system clusterlab knows only through a scenario file;
# user-images.toml runs the second as both the store's and the nodes'
# image (`image = ...`). Built in seconds from the cache's servers
# (ci/setup.sh); docker's cache makes a rebuild free.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/ci/cache.sh"
die() { printf 'example-image: error: %s\n' "$*" >&2; exit 2; }

# build NAME TAG ENTRY_ARGS: $cache/servers/bin/NAME as /usr/local/bin/NAME.
build() {
  local name=$1 tag=$2 cmd=$3 binary="$cache/servers/bin/$1"
  [ -x "$binary" ] || die "$binary is missing; run bash ci/setup.sh"
  local ctx
  ctx=$(mktemp -d)
  mkdir -p "$ctx/rootfs/usr/local/bin"
  cp "$binary" "$ctx/rootfs/usr/local/bin/$name"
  # The libraries ldd names, at the paths the loader looks for them.
  for lib in $(ldd "$binary" 2>/dev/null | grep -o '/[^ ]*' || true); do
    mkdir -p "$ctx/rootfs$(dirname "$lib")"
    cp -L "$lib" "$ctx/rootfs$lib"
  done
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/usr/local/bin/$name"]
CMD ["$cmd"]
DOCKERFILE
  local out
  out=$(docker build -q -t "$tag" "$ctx" 2>&1) || { rm -rf "$ctx"; die "docker build of $tag failed: $out"; }
  rm -rf "$ctx"
  printf 'example-image: %s ready\n' "$tag" >&2
}

build consul clusterlab-example/consul:1.8 version
build etcd clusterlab-example/etcd:3.5 --version
