#!/usr/bin/env bash
# The main job: run scenarios against real containers.
#
#   bash ci/run.sh                       # the quick default scenario
#   bash ci/run.sh etcd-leader-kill ...  # named scenarios (see `list`)
#   bash ci/run.sh --help                # every option of `clusterlab run`
#
# Installs what is missing (ci/setup.sh), builds clusterlab and disco-agent,
# then runs `clusterlab run` with the arguments given. Reports land in
# target/clusterlab/<scenario>/latest/ (timeline.svg, results.json, ...).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
bash ci/setup.sh
cargo build --quiet -p disco --bin disco-agent -p clusterlab --bin clusterlab
exec target/debug/clusterlab run "$@"
