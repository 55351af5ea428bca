#!/usr/bin/env bash
# clusterlab/rabbitmq-base: RabbitMQ 3.10 from bookworm, with its own etcd
# and Consul peer-discovery plugins (ci/debian-base.sh). The packaged
# node's state is pruned: each container is a fresh node. The harness
# writes the configuration and the Erlang cookie when a node starts
# (harness/containers/src/world/kind/rabbitmq.rs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/debian-base.sh" rabbitmq-base bookworm rabbitmq-server \
  --prune 'var/lib/rabbitmq/mnesia'
