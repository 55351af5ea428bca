#!/usr/bin/env bash
# clusterlab/rabbitmq4-base: RabbitMQ 4.0 from trixie (whose Erlang it
# needs), with its own etcd and Consul peer-discovery plugins
# (ci/debian-base.sh); the same start script as 3.10 runs on it.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/debian-base.sh" rabbitmq4-base trixie rabbitmq-server \
  --prune 'var/lib/rabbitmq/mnesia'
