#!/usr/bin/env bash
# Reads ci/tiers.txt, which places every container test of
# cli/tests/scenarios.rs in the smoke set or in one shard
# (cli/tests/tiers.rs holds it to that).
#
#   tiers.sh smoke | shard K | all   the tests, one a line
#   tiers.sh count                   how many shards
#   tiers.sh pick                    the shard of this commit
#   tiers.sh why K                   how K was chosen, in words
#   tiers.sh bases TEST...           the Debian bases those tests need
#                                    (names for ci/bases.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
file="$root/ci/tiers.txt"
entries() { grep -v '^[[:space:]]*\(#\|$\)' "$file"; }
count() { entries | awk '$2 != "smoke" { if ($2 > n) n = $2 } END { print n + 0 }'; }

# Consecutive commits get consecutive shards: the commit's count on its
# branch; in a shallow clone, where that count is not known, its hash.
pick_from() {
  local n
  n=$(count)
  if ! git -C "$root" rev-parse HEAD >/dev/null 2>&1; then
    echo "1 (not a git checkout)"
  elif [ "$(git -C "$root" rev-parse --is-shallow-repository)" = false ]; then
    local c
    c=$(git -C "$root" rev-list --count HEAD)
    echo "$(( c % n + 1 )) (commit $c of the branch, $c mod $n + 1)"
  else
    local h
    h=$(git -C "$root" rev-parse --short=7 HEAD)
    echo "$(( 0x$h % n + 1 )) (shallow clone: commit $h, its hash mod $n + 1)"
  fi
}

# The [cluster] table's value of `key` in a scenario file.
cluster_value() {
  awk -v key="$2" '/^\[/ { c = ($0 == "[cluster]") } c && $1 == key { gsub(/"/, "", $3); print $3 }' "$1"
}

case "${1:-}" in
  smoke) entries | awk '$2 == "smoke" { print $1 }' ;;
  shard) entries | awk -v k="${2:?shard number}" '$2 == k { print $1 }' ;;
  all) entries | awk '{ print $1 }' ;;
  count) count ;;
  pick) pick_from | cut -d' ' -f1 ;;
  why) p=$(pick_from); if [ "${p%% *}" = "$2" ]; then echo "${p#* }"; else echo "asked for"; fi ;;
  bases)
    shift
    for t in "$@"; do
      # A test's own scenario, and those its line's third column names.
      echo "$t"
      entries | awk -v t="$t" '$1 == t && NF > 2 { print $3 }' | tr ',' '\n'
    done | while read -r t; do
      f="$root/scenarios/$t.toml"
      [ -f "$f" ] || continue
      case "$(cluster_value "$f" kind)" in
        patroni) echo patroni ;;
        galera) echo galera ;;
        rabbitmq) if [ "$(cluster_value "$f" release)" = 4.0 ]; then echo rabbitmq4; else echo rabbitmq; fi ;;
      esac
      # A user-style image (ci/example-image.sh), for the store or the nodes.
      if grep -q '^image = "clusterlab-example/' "$f"; then echo example; fi
    done | sort -u | tr '\n' ' '
    ;;
  *) echo "tiers.sh: smoke | shard K | all | count | pick | why K | bases TEST..." >&2; exit 2 ;;
esac
