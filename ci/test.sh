#!/usr/bin/env bash
# The test command: installs what is missing, then format check, clippy and
# every test (against real etcd and Consul processes on loopback).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$(date +%s)
bash ci/setup.sh
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace 2>&1 | tee target/test.log
# One closing line over all test binaries (the last binary is often an empty
# doc-test run, whose own "0 passed" would say nothing about the suite).
awk -v secs=$(( $(date +%s) - start )) '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "== test suite finished in %ds\ntests: %d passed, %d failed, %d skipped\n", secs, p, f, s }' target/test.log
