#!/usr/bin/env bash
# Fetches the real server binaries the lab starts (etcd 3.5 from trixie,
# consul 1.8 from bullseye) from Debian's own packages, through a private
# apt source list that points at the mirror this machine already uses (read
# from its apt configuration, never hard-coded), into $cache/servers/bin
# (ci/cache.sh). Needs apt-get and dpkg-deb; installs nothing system-wide.
# Idempotent: with the servers in place it does no network I/O.
#
# `clusterlab setup` runs this script from a copy embedded in the binary.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$here/cache.sh"
source "$here/mirror.sh"
servers="$cache/servers"
bin="$servers/bin"
ETCD_SUITE=trixie
CONSUL_SUITE=bullseye

log() { printf 'servers: %s\n' "$*" >&2; }
die() { printf 'servers: error: %s\n' "$*" >&2; exit 2; }

have_servers() {
  [ -x "$bin/etcd" ] && [ -x "$bin/consul" ] && [ -f "$servers/stamp" ] \
    && [ "$(cat "$servers/stamp")" = "etcd-server/$ETCD_SUITE consul/$CONSUL_SUITE" ]
}

if have_servers; then
  log "present in $bin: $("$bin/etcd" --version | head -n1); $("$bin/consul" version | head -n1)"
  exit 0
fi
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || die "$tool is missing: the servers come from Debian packages; run this on Debian or Ubuntu (apt-get install dpkg)"
done

mirror=$(find_mirror | head -n1)
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list; add one (Types: deb / URIs: <mirror>) and run again"
log "mirror from this machine's apt configuration: $mirror"

apt_dir="$servers/apt"
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
echo "etcd-server/$ETCD_SUITE consul/$CONSUL_SUITE" >"$servers/stamp"
rm -rf "$apt_dir/root" "$apt_dir/lists" "$apt_dir/cache"
log "ready in $bin: $("$bin/etcd" --version | head -n1); $("$bin/consul" version | head -n1)"
