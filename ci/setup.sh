#!/usr/bin/env bash
# Installs what clusterlab needs on a fresh Debian machine and fetches the real
# server binaries the tests start (etcd 3.5 from trixie, consul 1.8 from bullseye).
#
# The binaries come from Debian's own packages through a private apt source list
# that points at the mirror this machine already uses (read from its apt
# configuration, never hard-coded). Nothing is installed system-wide except the
# build tools; the servers are unpacked into .cache/servers/bin. Last, the
# Debian base images (Patroni, RabbitMQ, Galera) are built if missing
# (ci/bases.sh), unless --no-bases is given (ci/test.sh builds them beside
# the compile). Idempotent: a second run with everything in place does no
# network I/O.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$root/.cache/servers"
bin="$cache/bin"
ETCD_SUITE=trixie
CONSUL_SUITE=bullseye

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

# --- tools: protoc (etcd-client's build), iptables+nsenter+ip (nemesis, shaper tests), curl --
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

source "$root/ci/mirror.sh"


have_servers() {
  [ -x "$bin/etcd" ] && [ -x "$bin/consul" ] && [ -f "$cache/stamp" ] \
    && [ "$(cat "$cache/stamp")" = "etcd-server/$ETCD_SUITE consul/$CONSUL_SUITE" ]
}

if have_servers; then
  log "servers present: $("$bin/etcd" --version | head -n1); $("$bin/consul" version | head -n1)"
  bases
  exit 0
fi

mirror=$(find_mirror | head -n1)
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; add one (Types: deb / URIs: <mirror>) and run again"
log "mirror from this machine's apt configuration: $mirror"

apt_dir="$cache/apt"
rm -rf "$apt_dir"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/cache" "$apt_dir/debs" "$bin"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt_dir/sources.list" <<LIST
deb [signed-by=$keyring] $mirror $ETCD_SUITE main
deb [signed-by=$keyring] $mirror $CONSUL_SUITE main
LIST
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  -o "Dir::Cache::Archives=$apt_dir/archives"
  -o "APT::Sandbox::User=root"
  -q
)
log "reading package lists for $ETCD_SUITE and $CONSUL_SUITE"
apt-get "${apt_opts[@]}" update >"$apt_dir/update.log" 2>&1 \
  || die "apt-get update with $apt_dir/sources.list failed: see $apt_dir/update.log"
(
  cd "$apt_dir/debs"
  apt-get "${apt_opts[@]}" download "etcd-server/$ETCD_SUITE" "consul/$CONSUL_SUITE" >"$apt_dir/download.log" 2>&1
) || die "downloading etcd-server/$ETCD_SUITE or consul/$CONSUL_SUITE failed: see $apt_dir/download.log"

for deb in "$apt_dir"/debs/*.deb; do
  dpkg-deb -x "$deb" "$apt_dir/root"
done
install -m 0755 "$apt_dir/root/usr/bin/etcd" "$bin/etcd"
install -m 0755 "$apt_dir/root/usr/bin/consul" "$bin/consul"
"$bin/etcd" --version >/dev/null || die "$bin/etcd does not run on this machine"
"$bin/consul" version >/dev/null || die "$bin/consul does not run on this machine"
echo "etcd-server/$ETCD_SUITE consul/$CONSUL_SUITE" >"$cache/stamp"
rm -rf "$apt_dir/root" "$apt_dir/lists" "$apt_dir/cache"
log "servers ready in $bin: $("$bin/etcd" --version | head -n1); $("$bin/consul" version | head -n1)"
bases
