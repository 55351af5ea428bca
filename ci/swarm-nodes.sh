#!/usr/bin/env bash
# A multi-node Docker Swarm on this one host, to try the Swarm engine across
# swarm nodes: N Docker-in-Docker nodes (Debian's docker.io, built offline
# like the other bases) on a network of their own, one manager and N-1
# workers, with the given images copied into every node (nothing can be
# pulled). Not part of any test tier: see docs/src/swarm.md for what a run
# on it shows today.
#
#   bash ci/swarm-nodes.sh up [N] [IMAGE...]   make it; prints the manager's DOCKER_HOST
#   bash ci/swarm-nodes.sh down                remove every node and the network
#
# The nodes run with the flags this kernel and Docker need (no
# --privileged here): SYS_ADMIN and NET_ADMIN, seccomp, AppArmor and the
# /proc/sys mask off (without systempaths=unconfined the overlay's traffic
# between nodes does not flow), the host's cgroup namespace; each dockerd
# on vfs with a cgroup parent of its own.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=ci/cache.sh
. "$root/ci/cache.sh"
label=clusterlab.swarm-nodes
net=clusterlab-swarm-nodes
die() { printf 'swarm-nodes: error: %s\n' "$*" >&2; exit 2; }

down() {
  local ids
  ids=$(docker ps -aq --filter "label=$label")
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null
  docker network ls -q --filter "label=$label" | xargs -r docker network rm >/dev/null
}

case "${1:-}" in
  down) down; echo "swarm-nodes: removed" ;;
  up)
    n=${2:-3}
    [[ "$n" =~ ^[1-9]$ ]] || die "N is a node count from 1 to 9, not $n"
    shift 2 || shift $#
    bash "$root/ci/debian-base.sh" swarmnode bookworm docker.io,iptables,iproute2,procps,ca-certificates >&2
    image=$(cat "$cache/images/swarmnode.tag")
    down
    docker network create --label "$label" "$net" >/dev/null
    for i in $(seq 1 "$n"); do
      docker run -d --name "clusterlab-swarm-$i" --hostname "swarm-$i" \
        --label "$label" --network "$net" \
        --cap-add SYS_ADMIN --cap-add NET_ADMIN \
        --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
        --security-opt systempaths=unconfined --cgroupns=host \
        -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
        "$image" dockerd --storage-driver=vfs --cgroup-parent="/clusterlab-swarm-$i" \
        -H unix:///var/run/docker.sock -H tcp://0.0.0.0:2375 >/dev/null
    done
    for i in $(seq 1 "$n"); do
      for _ in $(seq 1 120); do
        docker exec "clusterlab-swarm-$i" docker info >/dev/null 2>&1 && break
        sleep 0.5
      done
      docker exec "clusterlab-swarm-$i" docker info >/dev/null 2>&1 \
        || die "the daemon in clusterlab-swarm-$i did not answer within 60 s (docker logs clusterlab-swarm-$i)"
    done
    ip=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$net\").IPAddress}}" clusterlab-swarm-1)
    docker exec clusterlab-swarm-1 docker swarm init --advertise-addr "$ip" >/dev/null
    token=$(docker exec clusterlab-swarm-1 docker swarm join-token -q worker)
    for i in $(seq 2 "$n"); do
      docker exec "clusterlab-swarm-$i" docker swarm join --token "$token" "$ip:2377" >/dev/null
    done
    for img in "$@"; do
      for i in $(seq 1 "$n"); do
        docker save "$img" | docker exec -i "clusterlab-swarm-$i" docker load >/dev/null
      done
    done
    docker exec clusterlab-swarm-1 docker node ls >&2
    echo "DOCKER_HOST=tcp://$ip:2375"
    ;;
  *) die "up [N] [IMAGE...] | down" ;;
esac
