#!/usr/bin/env bash
# Builds clusterlab-example/consul:1.8, an image of the kind a user brings:
# Debian's consul binary and the libraries it links, on scratch, with
# `consul` as its entrypoint, and no disco-agent. The generic scenario
# generic-consul.toml runs it, so that CI proves the `generic` kind on an
# image clusterlab knows only through a scenario file. Built in seconds
# from the cache's servers (ci/setup.sh); docker's cache makes a rebuild free.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/ci/cache.sh"
consul="$cache/servers/bin/consul"
tag=clusterlab-example/consul:1.8
die() { printf 'example-image: error: %s\n' "$*" >&2; exit 2; }
[ -x "$consul" ] || die "$consul is missing; run bash ci/setup.sh"

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/usr/local/bin"
cp "$consul" "$ctx/rootfs/usr/local/bin/consul"
# The libraries ldd names, at the paths the loader looks for them.
for lib in $(ldd "$consul" | grep -o '/[^ ]*'); do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/usr/local/bin/consul"]
CMD ["version"]
DOCKERFILE
out=$(docker build -q -t "$tag" "$ctx" 2>&1) || die "docker build of $tag failed: $out"
printf 'example-image: %s ready\n' "$tag" >&2
