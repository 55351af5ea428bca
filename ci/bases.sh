#!/usr/bin/env bash
# The Debian base images the container scenarios start (ci/debian-base.sh),
# each built once per input hash: a second run with all of them present
# does nothing. ci/test.sh runs this beside the compile, which needs the
# cores while debootstrap mostly waits on the mirror and the disk; two
# builds at a time, for the same reason.
#
#   bash ci/bases.sh                   every base and the example image
#   bash ci/bases.sh patroni galera    only those (names: patroni rabbitmq
#                                      rabbitmq4 galera example)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
all="patroni rabbitmq4 rabbitmq galera example"
wanted=" ${*:-$all} "
for w in $wanted; do
  case " $all " in *" $w "*) ;; *) echo "bases: unknown base $w (bases: $all)" >&2; exit 2 ;; esac
done
script() { case $1 in example) echo example-image.sh ;; *) echo "$1-base.sh" ;; esac; }
# The wanted ones in $all's order, run two at a time; fails if any failed.
pids=() failed=0
for b in $all; do
  case "$wanted" in *" $b "*) ;; *) continue ;; esac
  bash "$root/ci/$(script "$b")" &
  pids+=($!)
  if [ ${#pids[@]} -eq 2 ]; then
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    pids=()
  fi
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
exit "$failed"
