#!/usr/bin/env bash
# Installs what building and testing clusterlab needs on a fresh Debian
# machine (the build and nemesis tools), then fetches the real server
# binaries the tests start (ci/servers.sh: etcd 3.5 and consul 1.8 from
# Debian's packages, into the user cache of ci/cache.sh). Nothing is
# installed system-wide except the tools. Last, the Debian base images
# (Patroni, RabbitMQ, Galera) are built if missing (ci/bases.sh), unless
# --no-bases is given (ci/test.sh builds only the ones it needs beside the
# compile; `clusterlab run` builds a scenario's on first use). With
# --test-tools it also installs what only the tests use (chromium, mdbook).
# Idempotent: a second run with everything in place does no network I/O.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 2; }

with_bases=1
test_tools=0
for arg in "$@"; do
  case "$arg" in
    --no-bases) with_bases=0 ;;
    --test-tools) test_tools=1 ;;
    *) die "unknown option $arg (options: --no-bases, --test-tools)" ;;
  esac
done
bases() { [ "$with_bases" = 0 ] || bash "$root/ci/bases.sh"; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools: protoc (etcd-client's build), iptables+nsenter+ip (nemesis, shaper tests), curl,
# debootstrap (the Debian bases) ------------------------------------------------------------
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

# --test-tools: what only the tests need (ci/test.sh), not the main job.
# Chromium for the browser test of report.html (harness/core/tests/
# report_html.rs), headless, so none of the desktop the package
# recommends; mdbook for the book (docs/), without its server and search
# (a minute and a half to build instead of several).
if [ "$test_tools" = 1 ] && ! command -v chromium >/dev/null; then
  log "installing chromium"
  as_root apt-get update -q >/dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium >/dev/null \
    || die "apt-get install chromium failed; run it by hand to see why"
fi
if [ "$test_tools" = 1 ] && ! command -v mdbook >/dev/null; then
  log "installing mdbook 0.5.4 (cargo install, about 1.5 min)"
  cargo install --quiet --locked --no-default-features --version 0.5.4 mdbook \
    || die "cargo install mdbook failed; run it by hand to see why"
fi

bash "$root/ci/servers.sh"
bases
