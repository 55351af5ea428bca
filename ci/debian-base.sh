#!/usr/bin/env bash
# Builds a Debian base image offline: a root filesystem made by debootstrap
# (minbase) from the mirror this machine's apt uses, with the given
# packages, then `docker import`ed (no registry is needed). The tag is a
# hash of the name, suite, packages, options and $recipe (raise it when a
# change here changes what is built), so an unchanged base is never
# rebuilt; the tag is written to $cache/images/<name>.tag (ci/cache.sh) for
# the harness. `clusterlab setup` runs it from a copy embedded in the binary.
#
#   bash ci/debian-base.sh NAME SUITE PKG,PKG,... [--prune GLOB]... [--change 'DOCKERFILE LINE']...
#
# --prune removes paths (relative to the root) after debootstrap: state a
# package made that the image must not carry. --change is passed to
# `docker import -c`.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
recipe=2
[ $# -ge 3 ] || { echo "usage: $0 NAME SUITE PACKAGES [--prune GLOB]... [--change LINE]..." >&2; exit 2; }
name=$1 suite=$2 packages=$3
shift 3
prune=() changes=()
while [ $# -gt 0 ]; do
  case "$1" in
    --prune) prune+=("$2"); shift 2 ;;
    --change) changes+=(-c "$2"); shift 2 ;;
    *) echo "$name: unknown option $1" >&2; exit 2 ;;
  esac
done
log() { printf '%s: %s\n' "$name" "$*" >&2; }
die() { printf '%s: error: %s\n' "$name" "$*" >&2; exit 2; }
source "$here/mirror.sh"
source "$here/cache.sh"

hash=$(echo "recipe $recipe: $name $suite $packages ${prune[*]:-} ${changes[*]:-}" | sha256sum | cut -c1-16)
tag="clusterlab/$name:$hash"
mkdir -p "$cache/images"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "$tag" >"$cache/images/$name.tag"
  log "present: $tag"
  exit 0
fi
command -v debootstrap >/dev/null || die "debootstrap is missing; install it (apt-get install debootstrap) or run bash ci/setup.sh"
mirror=$(find_mirror | head -n1)
[ -n "$mirror" ] || die "no Debian mirror in this machine's apt configuration"
work=$(mktemp -d "$cache/images/rootfs.XXXXXX")
# debootstrap mounts proc and sys (and may bind /dev) in the root while it
# runs: if it is stopped midway, unmount them before removing anything.
cleanup() {
  awk -v w="$work/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r \
    | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
started=$(date +%s)
log "debootstrap $suite from $mirror with $packages (1-2 minutes)"
debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || {
  tail -n 20 "$work/debootstrap.log" >&2
  die "debootstrap failed (log above): a package in $packages may be missing from $suite on $mirror"
}
rm -rf "$work/root/var/cache/apt/archives/"*.deb
for p in "${prune[@]}"; do
  # shellcheck disable=SC2086 # the glob is the point
  rm -rf "$work/root/"$p
done
tar -C "$work/root" -c . | docker import "${changes[@]}" - "$tag" >/dev/null \
  || die "docker import of the root filesystem failed"
echo "$tag" >"$cache/images/$name.tag"
log "built $tag in $(( $(date +%s) - started )) s, $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}')"
