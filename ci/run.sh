#!/usr/bin/env bash
# The main job: run scenarios against real containers.
#
#   bash ci/run.sh                       # the quick default scenario
#   bash ci/run.sh etcd-leader-kill ...  # named scenarios (see `list`)
#   bash ci/run.sh --help                # every option of `clusterlab run`
#
# Installs the tools and fetches the servers if missing (ci/setup.sh, no
# Debian base: `clusterlab run` builds the ones a scenario needs on first
# use), builds clusterlab and disco-agent, then runs `clusterlab run` with
# the arguments given. Reports land in target/clusterlab/<scenario>/latest/
# (timeline.svg, results.json, ...).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash ci/setup.sh --no-bases
cargo build --quiet -p disco --bin disco-agent -p clusterlab --bin clusterlab
exec target/debug/clusterlab run "$@"
