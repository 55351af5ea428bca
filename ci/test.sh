#!/usr/bin/env bash
# The test command: installs what is missing, then format check, clippy and
# every test (against real etcd and Consul processes on loopback, and the
# container scenarios on Docker).
#
# The Debian base images (ci/bases.sh, minutes on a fresh machine, mostly
# waiting on the mirror) are built beside the compile, which needs the
# cores; the tests start when both are done.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$(date +%s)
bash ci/setup.sh --no-bases
mkdir -p target
bash ci/bases.sh >target/bases.log 2>&1 &
bases=$!
# On an early failure the images are still let finish (each is cached by
# its inputs): killing debootstrap midway could leave its mounts behind.
trap 'wait "$bases" 2>/dev/null || true' EXIT
echo "== Debian base images: building beside the compile (target/bases.log)"
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test --no-run"
cargo test --workspace --no-run --quiet
echo "== waiting for the Debian base images ($(( $(date +%s) - start )) s in)"
if ! wait "$bases"; then
  cat target/bases.log
  echo "error: building a Debian base image failed (log above); run bash ci/bases.sh to see it alone" >&2
  exit 2
fi
cat target/bases.log
echo "== cargo test ($(( $(date +%s) - start )) s in)"
cargo test --workspace 2>&1 | tee target/test.log
# One closing line over all test binaries (the last binary is often an empty
# doc-test run, whose own "0 passed" would say nothing about the suite).
awk -v secs=$(( $(date +%s) - start )) '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "== test suite finished in %ds\ntests: %d passed, %d failed, %d skipped\n", secs, p, f, s }' target/test.log
