#!/usr/bin/env bash
# The Debian base images the container scenarios start (ci/debian-base.sh),
# each built once per input hash: a second run with all of them present
# does nothing. ci/test.sh runs this beside the compile, which needs the
# cores while debootstrap mostly waits on the mirror and the disk; two
# builds at a time, for the same reason.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Runs the given base scripts side by side; fails if any failed.
pair() {
  local pids=() s failed=0
  for s in "$@"; do
    bash "$root/ci/$s" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || failed=1; done
  return "$failed"
}
pair patroni-base.sh rabbitmq4-base.sh
pair rabbitmq-base.sh galera-base.sh
bash "$root/ci/example-image.sh"
