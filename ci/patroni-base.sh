#!/usr/bin/env bash
# clusterlab/patroni-base: PostgreSQL, Patroni and its etcd3/Consul clients
# on bookworm (ci/debian-base.sh). The packaged cluster is pruned: Patroni
# runs its own initdb. The harness adds disco-agent and the Patroni
# configuration on top (harness/containers/src/image/stock.rs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/debian-base.sh" patroni-base bookworm \
  postgresql,patroni,python3-etcd3,python3-consul,python3-etcd \
  --prune 'var/lib/postgresql/*' \
  --change 'USER postgres' --change 'WORKDIR /var/lib/postgresql'
