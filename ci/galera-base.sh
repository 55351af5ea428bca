#!/usr/bin/env bash
# clusterlab/galera-base: MariaDB 10.11 and the Galera 4 provider from
# bookworm, with rsync for state transfers (ci/debian-base.sh). The
# packaged server's data directory is pruned: each container initialises
# its own (harness/containers/images/galera-node.sh), and a joiner receives
# the cluster's state from a donor.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
exec bash "$here/debian-base.sh" galera-base bookworm mariadb-server,galera-4,rsync,procps,iproute2 \
  --prune 'var/lib/mysql'
