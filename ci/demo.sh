#!/usr/bin/env bash
# The main job until the scenario runner lands: a cold start of N nodes
# through real etcd (or Consul) on loopback, then the leader is killed.
#
#   bash ci/demo.sh [etcd|consul] [nodes]      (default: etcd 5)
#
# Each node is a disco-agent whose "database" prints the command line the
# agent rendered for it. Everything it starts is stopped on exit or Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kind=${1:-etcd}
n=${2:-5}
case "$kind" in etcd|consul) ;; *) echo "demo: unknown store '$kind' (use etcd or consul)" >&2; exit 2;; esac
[[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 2 ] || { echo "demo: node count '$n' must be a number >= 2" >&2; exit 2; }
cd "$root"
bash ci/setup.sh
cargo build --quiet -p disco --bin disco-agent
source "$root/ci/cache.sh"
bin="$cache/servers/bin"
agent="$root/target/debug/disco-agent"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

p=$(port)
if [ "$kind" = etcd ]; then
  peer=$(port)
  setsid "$bin/etcd" --name demo --data-dir "$work/etcd" --log-level warn \
    --listen-client-urls "http://127.0.0.1:$p" --advertise-client-urls "http://127.0.0.1:$p" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "demo=http://127.0.0.1:$peer" 2>"$work/store.log" &
  pids+=($!); store=(--etcd "http://127.0.0.1:$p"); ttl=3s; ready="/health"
else
  setsid "$bin/consul" agent -dev -bind 127.0.0.1 -client 127.0.0.1 -http-port "$p" -dns-port -1 -grpc-port -1 \
    -serf-lan-port "$(port)" -serf-wan-port "$(port)" -server-port "$(port)" -log-level warn 2>"$work/store.log" >/dev/null &
  pids+=($!); store=(--consul "http://127.0.0.1:$p"); ttl=10s; ready="/v1/status/leader"
fi
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$p$ready" | grep -q '[a-z0-9]' && break; sleep 0.1; done
echo "demo: $kind on 127.0.0.1:$p; starting $n agents at once (ttl $ttl)"

t0=$(date +%s%N)
for i in $(seq 1 "$n"); do
  RUST_LOG=warn setsid "$agent" "${store[@]}" --cluster demo --node-id "n$i" --advertise "n$i:7000" --ttl "$ttl" -- \
    sh -c 'echo "$0 state=$1 peers=$2" > "$3"; exec sleep 3600' "n$i" '{state}' '{peers}' "$work/n$i.plan" 2>"$work/n$i.log" &
  pids+=($!); eval "pid_n$i=$!"
done
for _ in $(seq 600); do [ "$(ls "$work"/*.plan 2>/dev/null | wc -l)" -eq "$n" ] && break; sleep 0.05; done
echo "demo: all $n databases started after $(( ($(date +%s%N) - t0) / 1000000 )) ms:"
cat "$work"/*.plan | sed 's/^/  /'
boots=$(grep -c 'state=new' "$work"/*.plan | awk -F: '{s+=$2} END {print s}')
echo "demo: bootstraps: $boots (must be 1)"

leader_of() {
  if [ "$kind" = etcd ]; then
    curl -s "http://127.0.0.1:$p/v3/kv/range" -d '{"key":"'"$(printf disco/demo/leader | base64)"'"}' \
      | python3 -c 'import sys,json,base64; d=json.load(sys.stdin); print(json.loads(base64.b64decode(d["kvs"][0]["value"]))["node"] if d.get("kvs") else "")'
  else
    curl -s "http://127.0.0.1:$p/v1/kv/disco/demo/leader?raw" | python3 -c 'import sys,json; t=sys.stdin.read(); print(json.loads(t)["node"] if t else "")'
  fi
}
for _ in $(seq 100); do leader=$(leader_of); [ -n "$leader" ] && break; sleep 0.05; done
echo "demo: leader key names $leader; killing its agent with SIGKILL (no deregistration)"
eval "kill -KILL -- -\$pid_$leader"
t0=$(date +%s%N)
while :; do
  now=$(leader_of)
  if [ -n "$now" ] && [ "$now" != "$leader" ]; then break; fi
  [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 60 ] || { echo "demo: FAIL no new leader in 60s" >&2; exit 1; }
  sleep 0.05
done
echo "demo: $now holds the leader key $(( ($(date +%s%N) - t0) / 1000000 )) ms after the kill"
[ "$boots" -eq 1 ] || { echo "demo: FAIL $boots bootstraps" >&2; exit 1; }
echo "demo: PASS"
