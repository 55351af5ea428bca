#!/usr/bin/env bash
# The test command, in tiers (ci/tiers.txt places every container test):
#
#   bash ci/test.sh             the everyday tier (what .ci/run and CI run):
#                               fmt, clippy, every unit and integration test,
#                               and in containers the smoke set plus one
#                               rotating shard, chosen from the commit
#   bash ci/test.sh --shard K   the same with shard K instead of the commit's
#   bash ci/test.sh --all       everything: every container test
#
# Test binaries are built once and then run directly, two groups side by
# side: the ones that start no containers (the simulator's suites, disco's
# real-store tests, unit tests) beside the ones that drive Docker. The
# CPU-bound container runs (RabbitMQ, Patroni, Galera: they missed their
# bounds beside other work on 2 cores) wait until the first group's
# CPU-bound binaries (the simulator's) are done, through a lock this
# script holds shared for them (target/cpu.lock); disco's real-store tests,
# which mostly wait on timers, run on beside them.
#
# The Debian base images the chosen container tests need (ci/bases.sh,
# minutes on a fresh machine, mostly waiting on the mirror) are built
# beside the compile.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
start=$(date +%s)
since() { echo "$(( $(date +%s) - start )) s"; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 2; }

mode=tier
shard=
case "${1:-}" in
  "") ;;
  --all) mode=all ;;
  --shard) shard=${2:-}; [ -n "$shard" ] || die "--shard needs a number" ;;
  *) die "unknown option $1 (options: --all, --shard K)" ;;
esac

bash ci/setup.sh --no-bases --test-tools
mkdir -p target
docker info >/dev/null 2>&1 || die "Docker is not reachable (${DOCKER_HOST:-unix:///var/run/docker.sock}): start it (systemctl start docker) or set DOCKER_HOST; \`clusterlab doctor\` checks the rest"
# The tests never fetch: what they need is in the cache now (a missing
# piece is an error naming the command that fetches it).
export CLUSTERLAB_OFFLINE=1

# --- which container tests run, and the images they need --------------------
shards=$(bash ci/tiers.sh count)
if [ "$mode" = tier ] && [ -z "$shard" ]; then
  shard=$(bash ci/tiers.sh pick)
fi
if [ "$mode" = all ]; then
  chosen=$(bash ci/tiers.sh all)
  echo "== container tests: all $(wc -w <<<"$chosen") (every shard and the smoke set)"
else
  [[ "$shard" =~ ^[0-9]+$ ]] && [ "$shard" -ge 1 ] && [ "$shard" -le "$shards" ] \
    || die "--shard takes 1 to $shards"
  chosen=$(bash ci/tiers.sh smoke; bash ci/tiers.sh shard "$shard")
  echo "== container tests: the smoke set and shard $shard of $shards ($(bash ci/tiers.sh why "$shard"))"
  echo "   shard $shard: $(bash ci/tiers.sh shard "$shard" | tr '\n' ' ')"
  echo "   another shard: bash ci/test.sh --shard K (K = 1..$shards); everything: bash ci/test.sh --all"
fi
bases=$(bash ci/tiers.sh bases $chosen)
bash ci/bases.sh $bases >target/bases.log 2>&1 &
bases_pid=$!
# On an early failure the images are still let finish (each is cached by
# its inputs): killing debootstrap midway could leave its mounts behind.
trap 'wait "$bases_pid" 2>/dev/null || true' EXIT
echo "== Debian base images: ${bases:-none needed}, building beside the compile (target/bases.log)"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== the book: mdbook build docs (target/book; its links: tests/book.rs)"
mdbook build docs --dest-dir ../target/book >target/book.log 2>&1 \
  || { cat target/book.log; die "mdbook build docs failed (log above)"; }
echo "== cargo clippy ($(since) in)"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test --no-run ($(since) in)"
# One line per test binary: its package's folder, its name, its path.
cargo test --workspace --no-run --quiet --message-format=json-render-diagnostics \
  | grep '"executable":"/' | grep -E '"profile":\{[^}]*"test":true' \
  | sed -E 's/.*"manifest_path":"([^"]*)\/Cargo.toml".*"target":\{[^}]*"name":"([^"]*)".*"executable":"([^"]*)".*/\1 \2 \3/' \
  >target/test-binaries
[ -s target/test-binaries ] || die "cargo test --no-run listed no test binary"
# The binaries as a user installs them, for the install test: cargo
# install from this target folder reuses the build above.
rm -rf target/install
for package in cli disco; do
  CARGO_TARGET_DIR="$root/target" cargo install --debug --locked --offline --quiet \
    --path "$package" --root target/install 2>target/install.log \
    || { cat target/install.log; die "cargo install --path $package failed (log above)"; }
done
export CLUSTERLAB_INSTALLED="$root/target/install/bin"

# The binaries that start containers; every other one runs beside them.
docker_binaries=" image nemesis run install scenarios "
# The first group's CPU-bound binaries: they run first, under the lock.
cpu_binaries=" baselines world differential linearizability "

# Runs one test binary from its package's folder (as cargo test does),
# with its output kept in target/test-logs/<name>.log.
run_binary() {
  local dir=$1 name=$2 exe=$3
  shift 3
  local log="target/test-logs/$name.log" t0 rc=0
  t0=$(date +%s)
  (cd "$dir" && "$exe" "$@") >"$log" 2>&1 || rc=$?
  printf '   %-34s %4d s  %s\n' "$name" "$(( $(date +%s) - t0 ))" \
    "$(grep '^test result:' "$log" | tail -n1 || echo "no result (exit $rc)")"
  return "$rc"
}
rm -rf target/test-logs
mkdir -p target/test-logs

# Group 1: no containers. Holds target/cpu.lock shared until it is done.
exec {cpu}>target/cpu.lock
flock -s "$cpu"
(
  failed=0
  for pass in cpu rest; do
    while read -r dir name exe; do
      case "$docker_binaries" in *" $name "*) continue ;; esac
      case "$cpu_binaries" in *" $name "*) [ "$pass" = cpu ] || continue ;; *) [ "$pass" = rest ] || continue ;; esac
      run_binary "$dir" "$name" "$exe" || failed=1
    done <target/test-binaries
    [ "$pass" = cpu ] && flock -u "$cpu"
  done
  cargo test --workspace --doc --quiet >target/test-logs/doctests.log 2>&1 || failed=1
  printf '   %-34s         %s\n' doctests "$(grep -h '^test result:' target/test-logs/doctests.log | awk '{p += $4; f += $6} END {printf "%d passed; %d failed", p, f}')"
  exit "$failed"
) &
plain_pid=$!
exec {cpu}>&-
echo "== tests without containers: started ($(since) in, target/test-logs/)"

echo "== waiting for the Debian base images ($(since) in)"
if ! wait "$bases_pid"; then
  cat target/bases.log
  echo "error: building a Debian base image failed (log above); run bash ci/bases.sh to see it alone" >&2
  exit 2
fi
echo "== tests with containers ($(since) in)"
failed=0
filters=$(for t in $chosen; do echo "${t//-/_}"; done)
while read -r dir name exe; do
  case "$docker_binaries" in *" $name "*) ;; *) continue ;; esac
  if [ "$name" = scenarios ]; then
    # Four test threads: a CPU-bound run waiting for the lock must not
    # hold up the light ones (the runs' own slots still cap them at two).
    CLUSTERLAB_CPU_LOCK="$root/target/cpu.lock" \
      run_binary "$dir" "$name" "$exe" --exact --test-threads 4 --nocapture $filters || failed=1
    grep -E '^(PASS|FAIL|SKIP)  ' "target/test-logs/$name.log" | sed 's/^/     /' || true
  else
    run_binary "$dir" "$name" "$exe" || failed=1
  fi
done <target/test-binaries
wait "$plain_pid" || failed=1

cat target/test-logs/*.log >target/test.log
# One closing line over every test binary.
awk -v secs=$(( $(date +%s) - start )) '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i; if ($(i+1) ~ /^ignored/) s += $i } }
     END { printf "== test suite finished in %ds\ntests: %d passed, %d failed, %d skipped\n", secs, p, f, s }' target/test.log
if [ "$failed" != 0 ]; then
  grep -h -B2 -A30 -E '^failures:$' target/test-logs/*.log | head -n 400 || true
  # The container tests run with --nocapture, so their panics (each failed
  # check and its detail) are inline, not under "failures:".
  grep -h -A40 -E "^thread '[^']*'( \([0-9]+\))? panicked at" target/test-logs/scenarios.log 2>/dev/null \
    | grep -v -E '^(note: run with|stack backtrace:|PASS  |test .* \.\.\. ok$| +[0-9]+: | +at )' \
    | head -n 200 || true
  echo "error: tests failed; each binary's output is in target/test-logs/" >&2
  exit 1
fi
