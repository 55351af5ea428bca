#!/usr/bin/env bash
# Builds clusterlab/patroni-base: a Debian root filesystem with PostgreSQL,
# Patroni and its etcd3/Consul clients, made by debootstrap from the mirror
# this machine's apt uses, then `docker import`ed (no registry is needed).
# The tag is a hash of the suite, the package list and this script, so an
# unchanged base is never rebuilt. The harness adds disco-agent and the
# Patroni configuration on top (harness/containers/src/image/stock.rs).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=bookworm
PACKAGES=postgresql,patroni,python3-etcd3,python3-consul,python3-etcd
log() { printf 'patroni-base: %s\n' "$*" >&2; }
die() { printf 'patroni-base: error: %s\n' "$*" >&2; exit 2; }
source "$root/ci/mirror.sh"

hash=$( { echo "$SUITE $PACKAGES"; cat "$0"; } | sha256sum | cut -c1-16)
tag="clusterlab/patroni-base:$hash"
mkdir -p "$root/.cache/images"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag" >"$root/.cache/images/patroni-base.tag"
  log "present: $tag"
  exit 0
fi
command -v debootstrap >/dev/null || die "debootstrap is missing; run bash ci/setup.sh"
mirror=$(find_mirror | head -n1)
[ -n "$mirror" ] || die "no Debian mirror in this machine's apt configuration"
work=$(mktemp -d "$root/.cache/images/rootfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "debootstrap $SUITE from $mirror with $PACKAGES (about 2 minutes)"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$work/root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  die "debootstrap failed (log above): a package in $PACKAGES may be missing from $SUITE on $mirror"
}
# The packaged cluster is not wanted: Patroni runs its own initdb.
rm -rf "$work/root/var/lib/postgresql/"* "$work/root/var/cache/apt/archives/"*.deb
tar -C "$work/root" -c . | docker import -c 'USER postgres' -c 'WORKDIR /var/lib/postgresql' - "$tag" >/dev/null \
  || die "docker import of the root filesystem failed"
echo "$tag" >"$root/.cache/images/patroni-base.tag"
log "built $tag"
