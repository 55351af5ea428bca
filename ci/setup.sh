#!/usr/bin/env bash
# Installs what building and testing clusterlab needs on a fresh Debian
# machine (the build and nemesis tools), then fetches the real server
# binaries the tests start (ci/servers.sh: etcd 3.5 and consul 1.8 from
# Debian's packages, into the user cache of ci/cache.sh). Nothing is
# installed system-wide except the tools. Last, the Debian base images
# (Patroni, RabbitMQ, Galera) are built if missing (ci/bases.sh), unless
# --no-bases is given (ci/test.sh builds only the ones it needs beside the
# compile; `clusterlab run` builds a scenario's on first use). Idempotent: a
# second run with everything in place does no network I/O.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 2; }

with_bases=1
case "${1:-}" in
  --no-bases) with_bases=0 ;;
  "") ;;
  *) die "unknown option $1 (the only one is --no-bases)" ;;
esac
bases() { [ "$with_bases" = 0 ] || bash "$root/ci/bases.sh"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools: protoc (etcd-client's build), iptables+nsenter+ip (nemesis, shaper tests), curl,
# debootstrap (the Debian bases), chromium (the report's browser test) --------------------
missing=()
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v dpkg-deb >/dev/null || missing+=(dpkg)
command -v iptables >/dev/null || missing+=(iptables)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v ip >/dev/null || missing+=(iproute2)
command -v curl >/dev/null || missing+=(curl)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed; run it by hand to see why"
fi

# The browser test of report.html (harness/core/tests/report_html.rs):
# headless, so none of the desktop the package recommends.
if ! command -v chromium >/dev/null; then
  log "installing chromium"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
    || die "apt-get install chromium failed; run it by hand to see why"
fi

bash "$root/ci/servers.sh"
bases
