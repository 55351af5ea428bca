#!/usr/bin/env bash
# The Debian base images the container scenarios start (ci/debian-base.sh),
# each built once per input hash: a second run with all of them present
# does nothing. ci/test.sh runs this beside the compile, which needs the
# cores while debootstrap mostly waits on the mirror and the disk.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/ci/patroni-base.sh"
bash "$root/ci/rabbitmq-base.sh"
bash "$root/ci/rabbitmq4-base.sh"
bash "$root/ci/galera-base.sh"
bash "$root/ci/example-image.sh"
