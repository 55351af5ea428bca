#!/bin/sh
# Starts one RabbitMQ node that forms its cluster through RabbitMQ's own
# etcd or Consul peer-discovery plugin: no disco-agent in the path, the lab
# tests RabbitMQ's code. The node's Erlang name is rabbit@<container name>,
# which every container on the run's network resolves.
#
#   rabbitmq-node etcd|consul HOST:PORT[,HOST:PORT...] CLUSTER HOST COOKIE
set -eu
backend=$1 endpoints=$2 cluster=$3 host=$4 cookie=$5
mkdir -p /etc/rabbitmq
{
  echo "cluster_formation.peer_discovery_backend = $backend"
  # Give up on a missing store or lock in seconds, not minutes.
  echo "cluster_formation.lock_retry_limit = 30"
  echo "cluster_formation.lock_retry_timeout = 2000"
  echo "cluster_formation.discovery_retry_limit = 30"
  echo "cluster_formation.discovery_retry_interval = 1000"
  case $backend in
  etcd)
    i=1
    for e in $(echo "$endpoints" | tr , ' '); do
      echo "cluster_formation.etcd.endpoints.$i = $e"
      i=$((i + 1))
    done
    echo "cluster_formation.etcd.cluster_name = $cluster"
    ;;
  consul)
    first=${endpoints%%,*}
    echo "cluster_formation.consul.host = ${first%:*}"
    echo "cluster_formation.consul.port = ${first##*:}"
    # Distinct service ids, and peers named rabbit@<address>.
    echo "cluster_formation.consul.svc_addr_auto = true"
    echo "cluster_formation.consul.svc_addr_use_nodename = true"
    echo "cluster_formation.consul.cluster_name = $cluster"
    echo "cluster_formation.consul.svc_ttl = 30"
    echo "cluster_formation.consul.lock_timeout = 30"
    ;;
  *)
    echo "rabbitmq-node: unknown discovery backend $backend" >&2
    exit 2
    ;;
  esac
  # The harness probes the management API from the host.
  echo "loopback_users.guest = false"
  # The node's own log on stdout, so that the run's logs/ folder holds it.
  echo "log.console = true"
  echo "log.console.level = info"
} >/etc/rabbitmq/rabbitmq.conf
echo "[rabbitmq_management,rabbitmq_peer_discovery_$backend]." >/etc/rabbitmq/enabled_plugins
printf %s "$cookie" >/var/lib/rabbitmq/.erlang.cookie
chown rabbitmq:rabbitmq /var/lib/rabbitmq/.erlang.cookie
chmod 400 /var/lib/rabbitmq/.erlang.cookie
export RABBITMQ_NODENAME="rabbit@$host"
exec rabbitmq-server
