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
echo "== test suite finished in $(( $(date +%s) - start ))s"
